"""bridge/engine/pool.py: thread settings: calm OpenMP before torch loads, never more threads than
cores, the cores shared out over worker processes."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from dreambridge.bridge.engine.pool import (CALM_OPENMP, available_cores, calm_openmp, default_threads,
                                            excerpt_workers, in_excerpt_worker, plan_workers, process_pool,
                                            thread_report)


def test_default_threads_shares_the_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "8")  # torch reads it too: dream and batch agree
    assert [default_threads(jobs) for jobs in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    for unset in ("", "junk", "0"):
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert default_threads(1) == available_cores()
        assert default_threads(10_000) == 1


def test_calm_openmp_sets_only_what_the_user_left_unset():
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    added = calm_openmp(environ)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's choice wins
    assert added == {"KMP_BLOCKTIME": "0"} and environ["KMP_BLOCKTIME"] == "0"


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_the_engine_calms_openmp_before_torch_loads(preset):
    """Importing the engine sets the policy while torch is not loaded yet (libgomp reads it once, at load)."""
    env = {k: v for k, v in os.environ.items() if k not in CALM_OPENMP}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = ("import os, sys; import dreambridge.bridge.engine; assert 'torch' not in sys.modules; "
            "import torch; print(os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (preset or "PASSIVE")


@pytest.mark.parametrize("jobs, threads, cores, expected", [
    (1, None, 2, (1, 2)), (2, None, 2, (2, 1)), (4, None, 2, (2, 1)), (3, None, 8, (3, 2)),
    (4, 2, 2, (1, 2)), (4, 1, 2, (2, 1)), (2, 4, 2, (1, 4)), (16, None, 16, (16, 1)),
])
def test_plan_never_oversubscribes(jobs, threads, cores, expected):
    processes, each = plan_workers(jobs, threads, cores)
    assert (processes, each) == expected
    # more threads than cores only when one process was asked to run them (--threads N on purpose)
    assert processes * each <= cores or processes == 1


def _report():
    return thread_report()


def test_workers_run_with_the_planned_thread_counts():
    """Real spawned workers of ``--jobs`` twice the cores: the pool has as many processes as cores, each
    with cores // processes torch and onnxruntime threads, and the calm wait policy."""
    cores = available_cores()
    jobs = 2 * cores
    with process_pool(jobs, int, ()) as pool:
        processes, threads = pool.dreambridge_plan
        reports = [f.result(timeout=300) for f in [pool.submit(_report) for _ in range(4 * jobs)]]
    assert processes == min(jobs, cores) and processes * threads <= cores
    assert len({r["pid"] for r in reports}) <= processes
    assert {r["torch_threads"] for r in reports} == {threads}
    assert {r["onnx_threads"] for r in reports} == {threads}
    expected = os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    assert {r["omp_wait_policy"] for r in reports} == {expected}


def _worker_state(_):
    import threading

    import torch

    return threading.current_thread().name, torch.get_num_threads(), in_excerpt_worker()


def test_excerpt_workers_run_one_thread_each_and_leave_the_caller_alone():
    """Each worker runs torch with one intra-op thread; the caller's count and the count a new thread
    takes are unchanged; results come back in order; a nested map runs inline (no self-wait)."""
    import threading

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        workers = excerpt_workers(2)
        assert excerpt_workers(2) is workers  # one set per count, kept
        states = workers.map(_worker_state, range(8))
        assert {n for _, n, _ in states} == {1} and all(inside for _, _, inside in states)
        assert {name for name, _, _ in states} <= {t.name for t in threading.enumerate()}
        assert torch.get_num_threads() == 2 and not in_excerpt_worker()
        fresh = []
        probe = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        probe.start()
        probe.join()
        assert fresh == [2]  # the process-wide count a new thread takes was put back
        assert workers.map(lambda k: workers.map(lambda j: j * k, [1, 2]), [3, 4]) == [[3, 6], [4, 8]]
    finally:
        torch.set_num_threads(before)


def _map_in_child(conn):
    conn.send(excerpt_workers(2).map(lambda k: k * k, range(5)))


def test_a_forked_child_makes_its_own_workers():
    """A process forked after the workers started (multiprocessing's default on Linux) has none of their
    threads: its first map makes new ones instead of waiting forever on the parent's."""
    import multiprocessing

    import time

    excerpt_workers(2).map(time.sleep, [0.05] * 4)  # both of the parent's threads exist (and idle)
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_map_in_child, args=(child,))
    process.start()
    try:
        assert parent.poll(60), "the child's map never returned"
        assert parent.recv() == [0, 1, 4, 9, 16]
        process.join(30)
        assert process.exitcode == 0
    finally:
        if process.is_alive():
            process.kill()


def test_a_process_signalled_as_its_workers_start_exits():
    """SIGTERM raised in the main thread at any moment of a map (the handler exits) never leaves
    a worker unwoken: the process ends (with ThreadPoolExecutor's lazy threads it hung at exit
    about once in six signalled dreams)."""
    import signal

    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))\n"
        "from dreambridge.bridge.engine.pool import excerpt_workers\n"
        "print('ready', flush=True)\n"
        "while True:  # a fresh set of 3 workers at each round\n"
        "    excerpt_workers.__globals__['_WORKERS'].clear()\n"
        "    excerpt_workers(3).map(time.sleep, [0.001] * 6)\n"
    )
    for delay in np.linspace(0.0, 0.004, 40):  # the window is the first map's, right after "ready"
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 143
