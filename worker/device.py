"""Where each worker process trains: one GPU per process when there are GPUs, CPU threads otherwise.

`plan` is pure (devices and cores in, placements out); `visible_gpus` probes the
machine, importing torch only when a GPU could be used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


@dataclass(frozen=True, slots=True)
class Placement:
    """One process's device.

    Attributes:
        device: the torch device string the tasks use ("cpu", "cuda", "cuda:1").
        cuda_visible_devices: CUDA_VISIBLE_DEVICES for the process (one GPU, so
            that it is "cuda" inside), or None to leave the variable alone.
        threads: torch CPU threads.
    """

    device: str
    cuda_visible_devices: str | None
    threads: int


def available_cores() -> int:
    """CPU cores this process may run on (respects taskset and cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus(requested: str) -> list[str]:
    """The GPUs a worker may use, as CUDA_VISIBLE_DEVICES entries ([] on CPU)."""
    if requested == "cpu":
        return []
    try:
        from asktell.worker.tasks._torch import cuda_device_count
    except ImportError:  # no torch: user tasks may still run, on CPU
        return []
    count = cuda_device_count()
    if count == 0:
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()][:count]
    return [str(i) for i in range(count)]


def default_processes(gpus: list[str]) -> int:
    """One process per GPU, or one on a CPU-only machine."""
    return max(1, len(gpus))


def plan(requested: str, n_processes: int, gpus: list[str], cores: int) -> list[Placement]:
    """A placement per process.

    Args:
        requested: "auto", "cpu", "cuda" or "cuda:K".
        n_processes: how many worker processes.
        gpus: visible GPUs (`visible_gpus`).
        cores: CPU cores to share.

    Raises:
        ValueError: a malformed device, or CUDA requested without a GPU.
    """
    if not DEVICE_PATTERN.match(requested):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:K, got {requested!r}")
    if requested.startswith("cuda") and not gpus:
        raise ValueError(f"device {requested} requested, but no CUDA GPU is visible")
    # CPU threads are split between processes; a GPU process needs few.
    threads = max(1, cores // n_processes)
    if requested == "cpu" or (requested == "auto" and not gpus):
        return [Placement("cpu", None, threads) for _ in range(n_processes)]
    if requested.startswith("cuda:"):
        return [Placement(requested, None, threads) for _ in range(n_processes)]
    # Each process sees one GPU (round-robin when there are more processes than GPUs).
    return [Placement("cuda", gpus[k % len(gpus)], threads) for k in range(n_processes)]
