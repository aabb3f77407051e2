"""bridge/engine/pool.py: the cores shared out over worker processes."""

import os

import torch

from dreambridge.bridge.engine.pool import default_threads, process_pool


def test_default_threads_shares_the_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "8")  # torch reads it too: dream and batch agree
    assert [default_threads(jobs) for jobs in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    for unset in ("", "junk", "0"):
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert default_threads(1) == (os.cpu_count() or 1)
        assert default_threads(10_000) == 1


def test_spawned_workers_get_their_thread_count():
    with process_pool(2, int, threads=1) as pool:  # int(): an initializer that does nothing
        counts = {pool.submit(torch.get_num_threads).result(timeout=300) for _ in range(2)}
    assert counts == {1}
