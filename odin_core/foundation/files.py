"""File I/O every layer shares: reading UTF-8 text, atomic writes, JSON lines, TOML writing, file digests.

Every whole-file write goes to a temporary file in the same folder and is then
renamed, so an interrupted command never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from odin_core.foundation.errors import DataError

#: written into every folder ``atomic_write_dir`` makes, with the folder's kind, so a later command knows
#: whether the folder is Odin's and what it holds
MARKER_FILE = ".odin-output"
#: folder kinds in the marker: a trained adapter or model, a dataset cache entry, a built scratch base model,
#: and a folder ``odin export`` wrote (the only kind an export replaces)
ADAPTER, DATASET, BASE_MODEL, EXPORT = "adapter", "dataset", "base model", "export"
_MARKER = re.compile(r"written by Odin(?:: (?P<kind>[a-z ]+))?\n?")
#: what the file system says when it refuses a write, as libraries that wrap it in their own errors repeat it
_STORAGE_FAULTS = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied")
#: the OSError numbers of those refusals (a missing file is not one)
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_utf8(path, *, error=DataError, expected: str = "a file") -> str:
    """The text of a UTF-8 file (a byte-order mark dropped), or one ``error`` naming the file and what was
    ``expected``; for bytes that are not UTF-8, the line of the first."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"file does not exist; expected {expected}", file=path) from None
    except IsADirectoryError:
        raise error(f"is a directory; expected {expected}", file=path) from None
    except OSError as exc:
        raise error(f"cannot be read ({exc.strerror})", file=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}); expected {expected} saved as UTF-8",
                    file=path, line=line) from None


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def marker_kind(folder) -> str | None:
    """The kind of Odin folder ``folder`` is (``"output"`` for one written before kinds were recorded), or None
    when it carries no marker."""
    try:
        text = (Path(folder) / MARKER_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = _MARKER.fullmatch(text)
    if match is None:
        return None
    return match.group("kind") or "output"


def storage_fault(exc: BaseException) -> str | None:
    """The cause when ``exc`` is the file system refusing a write (full disk, quota, read-only, permissions),
    also when a library wraps it in its own error (safetensors: "No space left on device"); else None."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return (exc.strerror or str(exc)) if exc.errno in _STORAGE_ERRNOS else None
    text = str(exc)
    return next((cause for cause in _STORAGE_FAULTS if cause in text), None)


def atomic_write_dir(target, save, kind: str = "output") -> None:
    """Call ``save(tmp_dir)`` and move the complete result to ``target``, marked as an Odin folder of ``kind``.

    An existing ``target`` is replaced only after the new content is complete: it is
    renamed aside, the new folder renamed in, and only then the old one deleted.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = None
    try:
        save(tmp)
        (tmp / MARKER_FILE).write_text(f"written by Odin: {kind}\n", encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes the folder private
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / "content")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "content").exists() and not target.exists():
            os.replace(old / "content", target)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def storage_error(exc: BaseException, target, hint: str = "free space or choose another place") -> DataError | None:
    """The one DataError naming ``target`` for a refused write (``storage_fault``), or None for anything else."""
    cause = storage_fault(exc)
    if cause is None:
        return None
    return DataError(f"could not be written ({cause}); nothing was left half-written; {hint}", file=target)


def write_folder(target, save, kind: str, *, hint: str = "free space or choose another place") -> None:
    """``atomic_write_dir``, with a refused write (full disk, read-only, permissions) reported as one DataError
    naming ``target`` and the cause; nothing half-written is left, and an earlier ``target`` is kept."""
    try:
        atomic_write_dir(target, save, kind)
    except Exception as exc:
        error = storage_error(exc, target, hint)
        if error is None:
            raise
        raise error from None


def writable_folder_problem(folder) -> str | None:
    """Why ``folder`` could not be created (or is there) and written, or None when it could; checked by making
    and removing one empty folder in it (or in the nearest folder above it that exists), so nothing is left."""
    folder = Path(folder).expanduser().absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} exists and is not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".odin-write-test.", dir=existing))
    except OSError as exc:
        return f"{existing} cannot be written ({exc.strerror or exc})"
    return None


def write_new_files(folder, texts: dict[str, str]) -> list[Path]:
    """Write ``{relative path: text}`` under ``folder``, each file atomically; returns the paths. A refused write
    (read-only, full disk) removes the files and folders this call made and raises one DataError naming the
    path and the cause, so nothing half-written is left."""
    folder = Path(folder)
    made: list[Path] = []
    written = []
    try:
        for relative, text in texts.items():
            path = folder / relative
            missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            made.extend(reversed(missing))
            if not path.exists():
                made.append(path)
            atomic_write_text(path, text)
            written.append(path)
    except OSError as exc:
        for made_path in reversed(made):
            try:
                made_path.rmdir() if made_path.is_dir() else made_path.unlink()
            except OSError:
                pass
        raise DataError(f"cannot be written ({exc.strerror or exc}); nothing was left half-written",
                        file=Path(exc.filename) if exc.filename else folder) from None
    return written


def append_jsonl(path, record: dict) -> None:
    """Append one JSON line with a single write, so a kill never leaves half a record."""
    line = (json.dumps(record, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_jsonl(path) -> list[dict]:
    """Records of a JSON-lines file (none when it is missing), skipping a torn last line."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def write_jsonl(path, records) -> None:
    """Write all ``records`` as JSON lines, atomically."""
    atomic_write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in records))


def file_digest(path) -> str:
    """SHA-256 of a file's bytes, or ``"missing"``."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return "missing"
    return h.hexdigest()


def toml_key(key: str) -> str:
    """A TOML key: bare where TOML allows it, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value) -> str:
    """One TOML value: a boolean, number, string, array (list or tuple) or inline table (None entries left out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(data: dict) -> str:
    """Serialise plain recipe data (tables, arrays of tables, scalars, lists) as TOML."""
    lines: list[str] = []

    def is_table_array(value):
        return isinstance(value, list) and value and all(isinstance(x, dict) for x in value)

    def table(prefix, body):
        simple = {k: v for k, v in body.items() if v is not None and not isinstance(v, dict) and not is_table_array(v)}
        for key, value in simple.items():
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
        for key, value in body.items():
            path = f"{prefix}.{toml_key(key)}" if prefix else toml_key(key)
            if isinstance(value, dict):
                lines.extend(["", f"[{path}]"])
                table(path, value)
            elif is_table_array(value):
                for item in value:
                    lines.extend(["", f"[[{path}]]"])
                    table(path, item)

    table("", data)
    return "\n".join(lines).strip() + "\n"
