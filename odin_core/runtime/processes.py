"""Several processes for one run (data parallel): which process this is, and waiting for the others.

A launcher (``accelerate launch``, ``torchrun``, or ``odin run --num-processes N``) starts
every process with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set; process 0 is the main
one. Without them this is the one and only process, and every helper here does nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

#: how long a process waits at a barrier: the others wait there while the main process builds the dataset
#: and evaluates, which can take hours on a large model (the launcher ends them all if one fails)
TIMEOUT = timedelta(hours=24)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value)
    except ValueError:
        return default


@dataclass(frozen=True)
class Processes:
    """This process's place among the run's processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world_size > 1


def current() -> Processes:
    """This process's rank and the number of processes, from the launcher's environment variables."""
    return Processes(_env_int("RANK", 0), max(1, _env_int("WORLD_SIZE", 1)), _env_int("LOCAL_RANK", 0))


def start(device: str) -> Processes:
    """Join the other processes (gloo on a CPU, NCCL on GPUs, through Accelerate) when there are several."""
    procs = current()
    if procs.several:
        from accelerate import PartialState

        PartialState(cpu=device == "cpu", timeout=TIMEOUT)
        if device == "cpu":
            _restore_indexed_cpu_locations()
    return procs


def _restore_indexed_cpu_locations() -> None:
    """Let ``torch.load`` map storages to ``cpu:<n>``. Accelerate gives each CPU process the device ``cpu:0``,
    which the Trainer passes to ``torch.load`` as ``map_location`` when it resumes several processes from a
    checkpoint; torch knows only ``cpu`` and would fail."""
    import torch

    def restore(storage, location: str):
        return storage if location.startswith("cpu:") else None

    def tag(storage):
        return None  # saving is untouched: storages are still tagged "cpu"

    torch.serialization.register_package(90, tag, restore)  # after torch's own (10-26)


def joined() -> bool:
    """Whether this process is in a started process group (torch.distributed); never imports torch."""
    import sys

    dist = getattr(sys.modules.get("torch"), "distributed", None)
    return dist is not None and dist.is_available() and dist.is_initialized()


#: what a process group's transport says when another process of the run is gone (gloo, NCCL, the TCP store)
_PEER_LOST = ("Connection reset", "Connection closed by peer", "Broken pipe", "Connection refused")


def peer_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says that another process of this run ended (the run was launched as several)."""
    if not current().several:
        return False
    return type(exc).__name__ in ("DistBackendError", "DistNetworkError") or any(s in str(exc) for s in _PEER_LOST)


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for with one process)."""
    if joined():
        import torch.distributed as dist

        dist.barrier()


def share(value):
    """The main process's ``value``, in every process (the value itself with one process)."""
    if not joined():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value) -> list:
    """Every process's ``value``, in rank order, in every process (``[value]`` with one process)."""
    if not joined():
        return [value]
    import torch.distributed as dist

    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def global_batch_size(recipe, world_size: int) -> int:
    """Sequences per optimizer step: per-device batch x gradient accumulation x processes."""
    t = recipe.training
    return t.batch_size * t.gradient_accumulation_steps * world_size
