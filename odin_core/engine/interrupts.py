"""Interrupts and write failures during training: SIGINT/SIGTERM save a checkpoint at the end of the current
step and stop; a full disk while checkpointing is one clear message (the previous checkpoint stays usable)."""

from __future__ import annotations

import errno
import signal
import threading
from contextlib import contextmanager

from odin_core.foundation import console
from odin_core.foundation.errors import OdinError


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint at ``step``."""

    def __init__(self, step: int, checkpoint):
        self.step, self.checkpoint = step, checkpoint
        super().__init__(f"interrupted at step {step}; checkpoint saved: {checkpoint}")


@contextmanager
def stop_on_signals(run_dir):
    """Yields a TrainerCallback: the first SIGINT or SIGTERM asks the trainer to save a checkpoint at the end of
    the current step and stop; a second one stops at once (the last complete checkpoint stays)."""
    from transformers import TrainerCallback

    received: list[int] = []

    class StopOnSignal(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if received:
                control.should_save = True
                control.should_training_stop = True

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        message = (f"{signal.Signals(signum).name} received: saving a checkpoint at the end of this step, then "
                   "stopping (send it again to stop at once)")
        console.alert(message, run_dir)

    callback = StopOnSignal()
    callback.received = received
    if threading.current_thread() is not threading.main_thread():
        yield callback
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield callback
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or \
        "No space left" in text or "file write failed" in text


@contextmanager
def write_failures(checkpoint_dir):
    """A full disk (or quota) while training writes is an OdinError saying so, not an unexpected error."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if not _disk_full(exc):
            raise
        from odin_core.engine.checkpoints import complete_checkpoints

        kept = complete_checkpoints(checkpoint_dir)
        raise OdinError(f"the disk is full (writing a checkpoint or model failed: {exc}); "
                        + (f"the previous complete checkpoint {kept[0].name} is kept: free some space and resume "
                           "with --resume" if kept else "no complete checkpoint was written yet"),
                        file=checkpoint_dir) from None
