"""Thread settings, the engine's excerpt workers, and the one process-pool set-up of the
front-ends that dream in parallel.

Three rules keep dreambridge calm beside a busy DAW and never oversubscribe the cores:

- OpenMP threads sleep when they wait (:func:`calm_openmp`, applied before torch loads):
  torch's OpenMP pool otherwise spin-waits for cores it does not get, and a render beside
  two busy processes ran ~5x slower than idle where the fair share of the CPU is 1.5x.
- ``processes x threads <= cores`` (:func:`plan_workers`): ``batch --jobs`` and
  ``atlas --jobs`` start at most as many workers as the threads they each get allow.
- Workers are spawned (never forked from a process that already holds torch threads), and
  each sets its torch and onnxruntime thread counts before its own initializer runs.

On a CPU the engine spends a process's threads on **excerpts, not on operations**
(:func:`excerpt_workers`): ``n`` worker threads, each running torch and onnxruntime with
one intra-op thread, each dreaming its own excerpt-channels (torch ops, onnxruntime's
``run`` and scipy's pocketfft release the GIL). One item's dream then runs the same
single-threaded kernels whatever the worker count, so the output bits no longer depend on
the thread count, and independent excerpts keep both cores busy where one excerpt's many
small operations did not (the OpenMP team woke and slept around every op).

The thread count never follows the load average: a render must not change with what else
the machine runs.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["CALM_OPENMP", "calm_openmp", "available_cores", "default_threads", "plan_workers", "set_threads",
           "thread_report", "process_pool", "excerpt_workers", "in_excerpt_worker", "engine_threads",
           "single_threaded"]

# GNU OpenMP (torch's pip wheels, MKL's GNU threading layer) reads OMP_WAIT_POLICY when the library loads;
# Intel's OpenMP (conda builds) reads KMP_BLOCKTIME. PASSIVE: a waiting thread sleeps instead of spinning.
CALM_OPENMP = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def calm_openmp(environ=None) -> dict:
    """Set :data:`CALM_OPENMP` in ``environ`` (default ``os.environ``) where the user has not
    set them; return what was set. Effective only before torch (or onnxruntime) is imported;
    spawned workers inherit it."""
    environ = os.environ if environ is None else environ
    added = {k: v for k, v in CALM_OPENMP.items() if k not in environ}
    environ.update(added)
    return added


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(jobs: int = 1) -> int:
    """Torch threads for each of ``jobs`` processes: the cores (or ``OMP_NUM_THREADS`` when set,
    as torch itself reads it) shared out, at least 1. Output bits depend on this count, so
    ``dream`` and a one-job ``batch`` use the same."""
    try:
        cores = int(os.environ.get("OMP_NUM_THREADS", "") or 0)
    except ValueError:
        cores = 0
    return max(1, (cores if cores > 0 else available_cores()) // max(1, jobs))


def plan_workers(jobs: int, threads: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """``(processes, threads each)`` for ``jobs`` asked and ``threads`` per worker (None: the
    cores shared out), with ``processes * threads <= cores`` (one process at least)."""
    cores = cores or available_cores()
    jobs = max(1, int(jobs))
    if threads is None:
        processes = min(jobs, cores)
        return processes, max(1, cores // processes)
    threads = max(1, int(threads))
    return max(1, min(jobs, cores // threads)), threads


def set_threads(threads: int) -> None:
    """This process's torch and onnxruntime thread counts (sessions made from now on)."""
    import torch

    from dreambridge.bridge.engine.onnx_backend import set_num_threads

    torch.set_num_threads(max(1, threads))
    set_num_threads(max(1, threads))


def thread_report() -> dict:
    """What this process runs with: its pid, torch's intra-op threads, onnxruntime's setting
    and the OpenMP wait policy (for tests and the bench)."""
    import torch

    from dreambridge.bridge.engine.onnx_backend import get_num_threads

    return {"pid": os.getpid(), "torch_threads": torch.get_num_threads(), "onnx_threads": get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}


def _start_worker(threads: int, initializer, initargs) -> None:
    set_threads(threads)
    initializer(*initargs)


def process_pool(jobs: int, initializer, initargs=(), threads: int | None = None):
    """A ``ProcessPoolExecutor`` of spawned workers, each running ``initializer(*initargs)``
    once after its thread counts are set; use it as a context manager.

    ``jobs`` and ``threads`` (default: the cores shared out) go through :func:`plan_workers`:
    a machine with fewer cores than ``jobs * threads`` gets fewer workers, never more threads
    than cores. The executor's ``dreambridge_plan`` is the ``(processes, threads)`` chosen."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    calm_openmp()
    processes, threads = plan_workers(jobs, threads)
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(threads, initializer, tuple(initargs)))
    pool.dreambridge_plan = (processes, threads)
    return pool


# -- the engine's excerpt workers (threads of this process) ----------------------------------
_WORKERS: dict = {}
_WORKERS_LOCK = threading.Lock()
_LOCAL = threading.local()


def _forget_workers_in_child() -> None:
    """A forked child has none of its parent's threads: it makes its own workers (and lock) on first use."""
    global _WORKERS_LOCK
    _WORKERS.clear()
    _WORKERS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_in_child)


def engine_threads(backend: str = "torch") -> int:
    """The threads this process lets the engine use on a CPU, as the front-ends set them:
    torch's intra-op count in the calling thread (``torch.set_num_threads``, ``--threads``,
    ``OMP_NUM_THREADS``) for the torch backend, onnxruntime's (``set_num_threads``) for onnx.
    The engine runs that many excerpt workers of one thread each."""
    if backend == "torch" and "torch" in sys.modules:
        return max(1, sys.modules["torch"].get_num_threads())
    from dreambridge.bridge.engine.onnx_backend import get_num_threads

    return max(1, get_num_threads())


def single_threaded() -> bool:
    """Whether torch (if loaded) runs one intra-op thread in the calling thread: such a caller can
    dream an item itself with the same kernels, and bits, as an excerpt worker."""
    torch = sys.modules.get("torch")
    return torch is None or torch.get_num_threads() == 1


def _one_intra_op_thread() -> None:
    """Make torch run single-threaded in the calling worker thread, once (torch may be imported
    after the pool started). OpenMP's thread count is per thread, but ``torch.set_num_threads``
    also stores a process-wide count that threads read when they first run a torch op; so the
    count is set to 1 here (this thread's OpenMP and MKL settings) and the process-wide value
    is put back from a short-lived helper thread, leaving every other thread as it was."""
    torch = sys.modules.get("torch")
    if torch is None or getattr(_LOCAL, "pinned", False):
        return
    with _WORKERS_LOCK:
        before = torch.get_num_threads()  # this thread's first torch call: takes the process-wide count
        torch.set_num_threads(1)
        helper = threading.Thread(target=torch.set_num_threads, args=(before,), name="dreambridge-threads")
        helper.start()
        helper.join()
    _LOCAL.pinned = True


def _in_worker(fn, *args):
    _one_intra_op_thread()
    return fn(*args)


class _ExcerptWorkers:
    """A fixed set of worker threads that run callables with one intra-op thread each.

    Its own small pool, not a ``ThreadPoolExecutor``: that one starts a thread when a task is
    submitted and registers it for the exit-time wake-up only after starting it, so a signal
    landing in between (Ctrl-C or SIGTERM as the first excerpt starts) left a worker nobody woke
    and the interpreter waiting for it at exit forever (seen: 1 in ~6 signalled dreams). Here
    every thread is started here, each after the wake-up that covers it is registered.
    """

    def __init__(self, n_workers: int):
        import queue

        self.n_workers = int(n_workers)
        self._tasks = queue.SimpleQueue()
        self._threads = []
        register = getattr(threading, "_register_atexit", None)  # runs before the interpreter joins threads
        if register is not None:
            register(self._stop)
        for i in range(self.n_workers):
            thread = threading.Thread(target=self._run, name=f"dreambridge-excerpt-{self.n_workers}_{i}",
                                      daemon=register is None)
            self._threads.append(thread)
            thread.start()

    def _stop(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)

    def _run(self) -> None:
        _mark_worker()
        while True:
            task = self._tasks.get()
            if task is None:
                return
            future, fn, item = task
            if not future.set_running_or_notify_cancel():
                continue  # cancelled (an error or Ctrl-C in the caller): not dreamed
            try:
                future.set_result(_in_worker(fn, item))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
                future.set_exception(exc)

    def map(self, fn, items) -> list:
        """``[fn(item) for item in items]``, run on the workers (in this thread when called from
        a worker, so a nested call cannot wait on itself)."""
        from concurrent.futures import Future

        items = list(items)
        if in_excerpt_worker():
            return [fn(item) for item in items]
        futures = []
        try:
            for item in items:
                futures.append(Future())
                self._tasks.put((futures[-1], fn, item))
            return [f.result() for f in futures]
        except BaseException:  # an error or Ctrl-C: the items not started yet are dropped, not dreamed
            for f in futures:
                f.cancel()
            raise


def _mark_worker() -> None:
    _LOCAL.worker = True


def in_excerpt_worker() -> bool:
    """Whether the calling thread is one of the engine's excerpt workers."""
    return getattr(_LOCAL, "worker", False)


def excerpt_workers(n_workers: int) -> _ExcerptWorkers:
    """The process's ``n_workers`` excerpt workers (made once per count and kept; threads idle
    on a queue cost nothing). ``workers.map(fn, items)`` runs ``fn`` on each item, every call
    with one torch and onnxruntime intra-op thread, and returns the results in order."""
    n_workers = max(1, int(n_workers))
    with _WORKERS_LOCK:
        if n_workers not in _WORKERS:
            _WORKERS[n_workers] = _ExcerptWorkers(n_workers)
        return _WORKERS[n_workers]
