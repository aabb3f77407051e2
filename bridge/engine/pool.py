"""The one process-pool set-up of the front-ends that dream files or maps in parallel.

Workers are spawned (never forked from a process that already holds torch threads), and
each gets ``cpu_count // jobs`` torch threads before its own initializer runs, so
``jobs`` processes share the machine instead of each claiming every core.
"""

from __future__ import annotations

import os

__all__ = ["process_pool", "default_threads"]


def default_threads(jobs: int = 1) -> int:
    """Torch threads for each of ``jobs`` processes: the cores (or ``OMP_NUM_THREADS`` when set,
    as torch itself reads it) shared out, at least 1. Output bits depend on this count, so
    ``dream`` and a one-job ``batch`` use the same."""
    try:
        cores = int(os.environ.get("OMP_NUM_THREADS", "") or 0)
    except ValueError:
        cores = 0
    return max(1, (cores if cores > 0 else os.cpu_count() or 1) // max(1, jobs))


def _start_worker(threads: int, initializer, initargs) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    initializer(*initargs)


def process_pool(jobs: int, initializer, initargs=(), threads: int | None = None):
    """A ``ProcessPoolExecutor`` of ``jobs`` spawned workers, each running ``initializer(*initargs)``
    once (after its torch thread count is set: ``threads``, default the cores shared out over
    ``jobs``); use it as a context manager."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = threads or default_threads(jobs)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(threads, initializer, tuple(initargs)))
