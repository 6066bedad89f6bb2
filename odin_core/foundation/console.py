"""What a command shows on the terminal, and where everything else goes.

Odin's own lines (``say``: progress and one summary line per phase; ``warn``: a warning,
shown once; ``progress``: a bar on a terminal) go to the terminal, and to the run's log
when the caller passes its run directory, according to the verbosity: ``quiet`` (errors and the final result only), ``normal`` or ``verbose``.
While ``captured()`` is active, everything else written to file descriptors 1 and 2 —
library warnings, logging, banners, progress bars, C extensions — goes to the attached
log file (``odin.log`` of the run) instead, and also to the terminal when verbose.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

QUIET, NORMAL, VERBOSE = "quiet", "normal", "verbose"
#: read by child processes too (``accelerate launch`` workers inherit the command's verbosity)
VERBOSITY_ENV = "ODIN_VERBOSITY"
#: the prefix of library output in the log
LIBRARY_PREFIX = "[lib] "

_warnings: list[str] = []
_log_path: Path | None = None
_last_log: Path | None = None
_capture: "_Capture | None" = None


def set_verbosity(level: str) -> None:
    """``quiet``, ``normal`` or ``verbose`` for this process and the processes it starts."""
    if level not in (QUIET, NORMAL, VERBOSE):
        raise ValueError(f"unknown verbosity {level!r}")
    os.environ[VERBOSITY_ENV] = level


def restore_verbosity(previous: str | None) -> None:
    """Put back the verbosity ``set_verbosity`` replaced (``None``: none was set)."""
    if previous is None:
        os.environ.pop(VERBOSITY_ENV, None)
    else:
        os.environ[VERBOSITY_ENV] = previous


def reset() -> None:
    """Forget the recorded warnings and the last log (a new command starts)."""
    global _last_log, _log_path
    _warnings.clear()
    _last_log = _log_path = None


def verbosity() -> str:
    level = os.environ.get(VERBOSITY_ENV, NORMAL)
    return level if level in (QUIET, NORMAL, VERBOSE) else NORMAL


def terminal():
    """The stream Odin's own lines go to: the real stderr, also while library output is captured."""
    return _capture.terminal if _capture is not None else sys.stderr


def _append(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def say(message: str, run_dir=None) -> None:
    """One of Odin's own lines: shown unless quiet; also written to ``run_dir``'s log when given (a ``RunDir``)."""
    if verbosity() != QUIET:
        _show(message)
    if hasattr(run_dir, "log"):
        run_dir.log(message)


def warn(message: str, run_dir=None) -> None:
    """A warning that matters: shown once per process (unless quiet), logged, and repeated if the command fails."""
    if not message.startswith("warning: "):
        message = f"warning: {message}"
    if hasattr(run_dir, "log"):
        run_dir.log(message)
    if message in _warnings:
        return
    _warnings.append(message)
    if verbosity() != QUIET:
        _show(message)


def _show(message: str) -> None:
    stream = terminal()
    try:
        from tqdm import tqdm  # written above a progress bar that is on screen, not through it

        tqdm.write(message, file=stream)
    except ImportError:
        print(message, file=stream, flush=True)


@contextmanager
def heartbeat(what: str, every: float = 5.0):
    """While the block runs longer than ``every`` seconds, one line every ``every`` seconds says that ``what`` is
    still under way (unless quiet), so a long read is never a silence."""
    done = threading.Event()
    started = time.monotonic()

    def beat():
        while not done.wait(every):
            say(f"{what} ({time.monotonic() - started:.0f} s so far)")

    thread = threading.Thread(target=beat, name="odin-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def progress(total: int, desc: str, unit: str = "it"):
    """A progress bar with rate and ETA on a terminal (never when quiet or not a terminal); use as a context."""
    from tqdm.auto import tqdm

    stream = terminal()
    shown = verbosity() != QUIET and hasattr(stream, "isatty") and stream.isatty()
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=not shown, dynamic_ncols=True, leave=False)


def attach_log(path) -> None:
    """Send captured library output to ``path`` (a run's ``odin.log``) from now on; a failed command names it."""
    global _log_path, _last_log
    _log_path = _last_log = Path(path)
    if _capture is not None:
        _capture.flush_pending(_log_path)


def detach_log() -> None:
    global _log_path
    _log_path = None


def failure_notes() -> list[str]:
    """What a failed run prints after its error: the warnings recorded before it and where the log is (nothing
    when the command failed before making a run directory: its warnings are just above the error)."""
    if _last_log is None:
        return []
    notes = []
    if _warnings:
        notes.append(f"{len(_warnings)} warning(s) earlier in this command:")
        notes += [f"  {w}" for w in _warnings]
    notes.append(f"log: {_last_log}")
    return notes


class _Capture:
    """File descriptors 1 and 2 into a pipe; a thread writes what arrives to the log (and to the terminal)."""

    def __init__(self, tee: bool):
        self.tee = tee
        self.pending: list[str] = []
        self.lock = threading.Lock()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self.saved = {fd: os.dup(fd) for fd in (1, 2)}
        self.terminal = os.fdopen(os.dup(self.saved[2]), "w", buffering=1, encoding="utf-8", errors="replace")
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        self.read_end = read_end
        self.thread = threading.Thread(target=self._pump, name="odin-capture", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        partial = b""
        while True:
            chunk = os.read(self.read_end, 65536)
            if not chunk:
                break
            if self.tee:
                os.write(self.saved[2], chunk)
            partial += chunk
            *lines, partial = partial.split(b"\n")
            for line in lines:
                self._record(line)
        if partial:
            self._record(partial)
        os.close(self.read_end)

    def _record(self, raw: bytes) -> None:
        # a progress bar redraws itself with carriage returns: its last state is the line worth keeping
        segments = [s for s in raw.decode("utf-8", "replace").split("\r") if s.strip()]
        if not segments:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {LIBRARY_PREFIX}{segments[-1].rstrip()}\n"
        with self.lock:
            if _log_path is not None:
                _append(_log_path, line)
            else:
                self.pending.append(line)

    def flush_pending(self, path: Path) -> None:
        with self.lock:
            if self.pending:
                _append(path, "".join(self.pending))
                self.pending.clear()

    def stop(self) -> str:
        """Restore the descriptors; returns what arrived while no log was attached (nothing is lost)."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for fd, saved in self.saved.items():
            os.dup2(saved, fd)  # closes the pipe's write ends held at 1 and 2: the thread sees the end
        self.thread.join(timeout=5)
        for saved in self.saved.values():
            os.close(saved)
        self.terminal.close()
        with self.lock:
            leftover, self.pending = "".join(self.pending), []
        return leftover


def _on_real_descriptors() -> bool:
    """Whether sys.stdout and sys.stderr write to descriptors 1 and 2 (not so under click's CliRunner)."""
    try:
        return sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def captured():
    """Library output goes to the attached log (and to the terminal when verbose) while this is active.

    Output that arrives while no log is attached is appended to the last attached log at the end, or, when
    no log was ever attached (the command failed before making its run directory), shown on the terminal."""
    global _capture
    if _capture is not None or not _on_real_descriptors():
        yield
        return
    _capture = _Capture(tee=verbosity() == VERBOSE)
    try:
        yield
    finally:
        capture, _capture = _capture, None
        leftover = capture.stop()
        if leftover:
            if _last_log is not None:
                _append(_last_log, leftover)
            elif not capture.tee:
                sys.stderr.write("".join(line.split(LIBRARY_PREFIX, 1)[-1] for line in leftover.splitlines(True)))


def quiet_library_env():
    """Commands that do not capture library output: ask the libraries for less of it (before they are imported),
    and leave their Python warnings (deprecations, notices) to ``-v``; Odin's own warnings go through ``warn``.

    Returns a function that puts the warning filters and environment back (for the next command of a process:
    CliRunner, tests, notebooks)."""
    import warnings

    saved = warnings.catch_warnings()
    saved.__enter__()
    warnings.filterwarnings("ignore")
    added = []
    for name, value in (("TRANSFORMERS_VERBOSITY", "error"), ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"),
                        ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"), ("DATASETS_VERBOSITY", "error")):
        if name not in os.environ:
            os.environ[name] = value
            added.append(name)

    def restore() -> None:
        saved.__exit__(None, None, None)
        for name in added:
            os.environ.pop(name, None)

    return restore


def alert(message: str, run_dir=None) -> None:
    """A line shown even when quiet (an interruption and how to continue), logged like ``say``."""
    _show(message)
    if hasattr(run_dir, "log"):
        run_dir.log(message)
