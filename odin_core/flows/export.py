"""The flow of ``odin export``: a run's adapter merged into its base model, saved in 16 bits as a Hugging Face
folder (``--merged``) or as one GGUF file (``--gguf``)."""

from __future__ import annotations

from pathlib import Path

import os
import tempfile

from odin_core.engine import load_run_model
from odin_core.errors import DataError
from odin_core.files import MARKER_FILE, atomic_write_dir
from odin_core.layout import GGUF_DIR, MERGED_DIR
from odin_core.rundir import RunDir, is_run_dir


def check_export_target(target: Path, run_path: Path, force: bool = False) -> None:
    """Refuse a target that would destroy something: the run itself, or a non-empty folder Odin did not write."""
    target_resolved, run_resolved = target.resolve(), run_path.resolve()
    if target_resolved == run_resolved or target_resolved in run_resolved.parents or is_run_dir(target):
        raise DataError("is the run directory (or holds it); choose another --output folder", file=target)
    if target.exists() and not target.is_dir():
        raise DataError("exists and is not a folder; choose another --output folder", file=target)
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER_FILE).exists() and not force:
        raise DataError("is a non-empty folder that is not an earlier export by Odin; choose another --output "
                        "folder (or pass --force to replace it)", file=target)


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
    if target.is_dir():
        raise DataError("is a folder; --output names the .gguf file to write", file=target)
    if output and target.exists() and not force:
        raise DataError("exists; choose another --output file (or pass --force to replace it)", file=target)
    loaded, model = merged_model(run.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        info = write_gguf(model, loaded.tokenizer, tmp, dtype, name=run.path.name)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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

    atomic_write_dir(target, save)
    return target
