"""SIGTERM as Ctrl-C for the flows that train (a run, a sweep): logged, with the command that continues them."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def sigterm_interrupts():
    """SIGTERM interrupts the block as Ctrl-C does (a KeyboardInterrupt: logged, resume command shown) instead of
    ending the process silently; outside the main thread, where signals cannot be caught, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
