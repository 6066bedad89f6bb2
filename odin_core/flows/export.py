"""The flow of ``odin export``: a run's adapter merged into its base model, saved in 16 bits as a Hugging Face
folder (``--merged``) or as one GGUF file (``--gguf``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from odin_core.engine import load_run_model
from odin_core.foundation.errors import DataError
from odin_core.foundation.files import EXPORT, marker_kind, storage_error, write_folder
from odin_core.foundation.layout import GGUF_DIR, MERGED_DIR
from odin_core.runtime.rundir import RunDir, owning_run

#: the folders inside a run that ``odin export`` writes by default, and the only ones inside any run it writes
EXPORT_DIRS = (MERGED_DIR, GGUF_DIR)


def check_export_target(target: Path, run_path: Path, force: bool = False, *, folder: bool = True) -> None:
    """Refuse a target that would write into or over what another command made.

    An export writes only into a new folder (or file), into one an earlier export wrote, or into the exported
    run's own ``merged/`` or ``gguf/``; never anywhere else inside a run directory, whatever ``force`` says.
    ``force`` replaces a non-empty folder (or an existing file) outside every run."""
    target = target.absolute()
    run_path = run_path.absolute()
    if target == run_path or target in run_path.parents:
        raise DataError("is the run directory (or holds it); choose another --output", file=target)
    inside = owning_run(target if target.exists() else target.parent)
    if inside is not None:
        relative = target.relative_to(inside).parts
        if inside != run_path or not relative or relative[0] not in EXPORT_DIRS:
            raise DataError(f"is inside the run directory {inside}; an export writes only outside runs or into "
                            f"the exported run's own {' or '.join(d + '/' for d in EXPORT_DIRS)}; choose another "
                            "--output", file=target)
    if not folder:
        if target.is_dir():
            raise DataError("is a folder; --output names the .gguf file to write", file=target)
        if target.exists() and not (force and inside is None) and marker_kind(target.parent) != EXPORT:
            raise DataError("exists; choose another --output file (or pass --force to replace it)", file=target)
        return
    if target.exists() and not target.is_dir():
        raise DataError("exists and is not a folder; choose another --output folder", file=target)
    kind = marker_kind(target)
    # the run's own merged/ holds only exports, some from before markers named their kind
    replaceable = kind == EXPORT or (inside is not None and kind is not None)
    # --force replaces a folder of the user's own (outside runs), never one another Odin command wrote
    if target.is_dir() and any(target.iterdir()) and not replaceable and not (force and inside is None and not kind):
        if kind:
            raise DataError(f"holds an Odin {kind}, not an earlier export by Odin; choose another --output folder",
                            file=target)
        raise DataError("is a non-empty folder that is not an earlier export by Odin; choose another --output "
                        "folder" + ("" if inside else " (or pass --force to replace it)"), file=target)


#: what a refused export write suggests
HINT = "free space or choose another --output"


def merged_model(run_path: Path):
    """(the loaded run, its model with the adapter merged in), loaded in 16/32 bits (never 4)."""
    loaded = load_run_model(run_path, adapter=True, load_in_4bit=False)
    model = loaded.model
    if hasattr(model, "peft_config"):
        model = model.merge_and_unload()
    return loaded, model


def export_gguf(run_dir, output=None, dtype: str = "f16", force: bool = False) -> tuple[Path, dict]:
    """The merged model as one GGUF file (tokenizer and chat template included); returns (file, what was written).

    Default file: ``RUN_DIR/gguf/<recipe name>-<dtype>.gguf``. The file appears only once complete."""
    from odin_core.engine.gguf_export import GGUF_DTYPES, write_gguf

    if dtype not in GGUF_DTYPES:
        raise DataError(f"GGUF export writes {', '.join(GGUF_DTYPES)}, not {dtype!r}; pass --dtype with one of them")
    run = RunDir.existing(run_dir)
    target = Path(output) if output else run.path / GGUF_DIR / f"{run.path.name}-{dtype}.gguf"
    check_export_target(target, run.path, force or not output, folder=False)
    loaded, model = merged_model(run.path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        error = storage_error(exc, target, HINT)
        if error is None:
            raise
        raise error from None
    os.close(fd)
    try:
        info = write_gguf(model, loaded.tokenizer, tmp, dtype, name=run.path.name)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        error = storage_error(exc, target, HINT)
        if error is None:
            raise
        raise error from None
    return target, info


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_merged(run_dir, output=None, dtype: str = "auto", force: bool = False) -> Path:
    """Merge the run's adapter into its base (loaded in 16 bits) and save the model + tokenizer; returns the folder.

    The new folder replaces an earlier export only once it is complete."""
    import torch

    run = RunDir.existing(run_dir)
    target = Path(output) if output else run.path / MERGED_DIR
    check_export_target(target, run.path, force)
    loaded, model = merged_model(run.path)
    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"
    model = model.to(getattr(torch, dtype))

    def save(tmp):
        model.save_pretrained(tmp)
        loaded.tokenizer.save_pretrained(tmp)

    write_folder(target, save, EXPORT, hint=HINT)
    return target
