"""``--ray ADDRESS``: ``dreambridge batch`` and ``dreambridge atlas`` on a Ray cluster.

One actor per worker CPU (or per GPU) holds the model, loaded once. The driver (the
machine that runs the command) reads every input and writes every output: an actor gets
an input's bytes, dreams it with the batch's own per-file function
(:func:`~dreambridge.bridge.io.batch.dream_job`) in a private temporary folder, and sends the
output's bytes back, so worker nodes need no shared file system; a model directory, a
preset file, a MIDI file and its map are shipped to them the same way (shipped models
come with the package). Outputs are byte-identical to the local batch, and the manifest
and ``--resume`` are the batch's own. A job whose actor dies (its node killed or lost) is
dreamed again on another actor; the run fails only when no actor is left.

Ray is an optional dependency: ``pip install 'dreambridge[cluster]'`` on the driver and on
every node, the same versions of Ray, Python and dreambridge everywhere.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import shutil
import socket
import sys
import tempfile
from collections import Counter, deque
from pathlib import Path

from dreambridge.presets.errors import DreamError, ParameterError, first_line
from dreambridge.presets.fileutil import atomic_write_bytes

__all__ = ["RayCluster", "CONNECT_TIMEOUT_S", "START_WAIT_S", "MAX_ATTEMPTS"]

CONNECT_TIMEOUT_S = 3.0  # a head that does not accept a TCP connection in this long is reported, not waited for
START_WAIT_S = 120.0  # wait this long for every worker to load the model; later ones join when ready
MAX_ATTEMPTS = 3  # a job whose actor died this many times is a per-file failure (it may be what kills them)


class _FirstLines:
    """A text sink for Ray's own messages (stdout, while connected): to stderr, the first line
    of each, so a killed node is one line, not Ray's 30-line log dump, and stdout stays JSON."""

    def write(self, text: str) -> int:
        head, newline, rest = text.partition("\n")
        sys.stderr.write(head + newline if rest.strip() else text)
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _pack(path) -> tuple[str, dict[str, bytes]]:
    """A file or folder as ``(name, {relative path: bytes})``, for a node that cannot see it."""
    path = Path(path)
    if path.is_file():
        return path.name, {"": path.read_bytes()}
    files = {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
             if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)}
    return path.name, files


def _unpack(bundle: dict, folder: Path) -> dict[str, str]:
    """Recreate :func:`_pack`'ed paths under ``folder``; ``{field: local path}``."""
    paths = {}
    for field, (name, files) in bundle.items():
        root = folder / field / name
        for rel, data in files.items():
            target = root / rel if rel else root
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        paths[field] = str(root)
    return paths


class _Worker:
    """A Ray actor: state built once by ``setup(local paths, *args)``, then ``fn(state, item)``
    per job. It never raises from ``__init__``: :meth:`ready` reports a failed setup in one line."""

    def __init__(self, setup, args: tuple, bundle: dict, threads: int):
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.node_ip = ray.util.get_node_ip_address()
        self.error = ""
        self.folder = Path(tempfile.mkdtemp(prefix="dreambridge-ray-"))
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)  # Ray ends actors with the driver's job
        try:
            import torch

            from dreambridge.bridge.engine.onnx_backend import set_num_threads

            torch.set_num_threads(threads)  # as many as the CPUs it holds
            set_num_threads(threads)
            self.state = setup(_unpack(bundle, self.folder), *args)
        except Exception as exc:  # reported by ready(): the driver says which node and why
            self.error = f"{type(exc).__name__}: {first_line(exc)}"

    def ready(self) -> tuple[str, str, str]:
        return self.node, self.node_ip, self.error

    def run(self, fn, item):
        return fn(self.state, item, self.folder), self.node, self.node_ip


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or "/" in host or not port.isdigit():
        raise ParameterError(f"--ray {address!r} is not auto or HOST:PORT (the head's address, as "
                             "`ray start --head` prints it)")
    return host, int(port)


class RayCluster:
    """A connection to a Ray cluster that dreams batch files and atlas maps.

    Parameters
    ----------
    address : str
        ``auto`` (a cluster started on this machine with ``ray start --head``) or
        ``HOST:PORT`` of the head node. Connecting fails in one line within about
        ``CONNECT_TIMEOUT_S`` when nothing answers there.
    log : callable
        Where one-line notes go (a lost node, a retried file).

    Use as a context manager; while connected, Ray's own messages go to stderr, so
    stdout stays free for ``--json``.
    """

    def __init__(self, address: str, log=print):
        try:
            import ray
        except ImportError:
            raise DreamError("--ray needs Ray: pip install 'dreambridge[cluster]' (here and on every node)") from None
        self.ray, self.address, self.log = ray, address, log
        self.lost: list[dict] = []
        self.retried: list[str] = []
        self.nodes: Counter = Counter()
        if address != "auto":
            host, port = _split_address(address)
            try:
                socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
            except OSError as exc:
                raise DreamError(f"--ray {address}: no Ray head answers there ({first_line(exc)}); start one with "
                                 f"`ray start --head --port {port}` or check the address") from None
        self._stdout = contextlib.redirect_stdout(_FirstLines())
        self._stdout.__enter__()
        # Ray puts the driver's current folder on every worker's sys.path: a stray onnx.py or torch.py
        # there would shadow the real package in the workers. Join from an empty folder instead.
        here = os.getcwd()
        try:
            with tempfile.TemporaryDirectory(prefix="dreambridge-ray-") as empty:
                os.chdir(empty)
                try:
                    ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=True)
                finally:
                    os.chdir(here)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            self.close()
            raise DreamError(f"--ray {address}: cannot join the cluster ({first_line(exc)})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        """Leave the cluster (it keeps running) and give stdout back."""
        if self.ray.is_initialized():
            self.ray.shutdown()
        if self._stdout is not None:
            self._stdout.__exit__(None, None, None)
            self._stdout = None

    def report(self) -> dict:
        """Files per node, nodes lost, files retried: for the ``--json`` summary."""
        return {"address": self.address, "files_per_node": dict(self.nodes), "lost_workers": self.lost,
                "retried": self.retried}

    # -- the pool ---------------------------------------------------------------------------
    def _start(self, setup, args: tuple, paths: dict, device: str, threads: int = 1) -> dict:
        """Start the actors; ``{ready reference: actor}`` (they load the model meanwhile)."""
        ray = self.ray
        n_gpus = int(ray.cluster_resources().get("GPU", 0))
        if device == "cuda" and not n_gpus:
            raise DreamError(f"--device cuda, but the cluster at {self.address} has no GPU; use --device cpu or auto")
        use_gpu = n_gpus > 0 and device in ("cuda", "auto")
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        count = n_gpus if use_gpu else sum(int(n.get("CPU", 0)) // threads for n in nodes)
        if count < 1:
            raise DreamError(f"no node of the cluster at {self.address} has {threads} CPUs for a worker with "
                             f"--threads {threads}; pass a smaller --threads")
        options = {"num_gpus": 1, "num_cpus": 0} if use_gpu else {"num_cpus": threads}
        bundle = ray.put({field: _pack(path) for field, path in paths.items()})
        remote = ray.remote(_Worker).options(max_restarts=0, max_concurrency=1, **options)
        actors = [remote.remote(setup, args, bundle, threads) for _ in range(count)]
        return {actor.ready.remote(): actor for actor in actors}

    def _map(self, starting: dict, fn, items: list, prepare, describe):
        """Yield ``(index, value, node, node_ip, attempts)`` per item as items finish, one
        item in flight per actor. Work starts when every actor has loaded the model or after
        ``START_WAIT_S`` (one held up by a busy cluster joins when ready); an item whose actor
        died goes to another."""
        ray = self.ray
        queue = deque(range(len(items)))
        attempts = Counter()
        idle, inflight, errors, where = [], {}, [], {}
        ray.wait(list(starting), num_returns=len(starting), timeout=START_WAIT_S)  # then work is spread evenly
        while queue or inflight:
            while queue and idle:
                index = queue.popleft()
                actor = idle.pop()
                attempts[index] += 1
                inflight[actor.run.remote(fn, prepare(items[index]))] = (actor, index)
            if not inflight and not starting:
                raise DreamError(errors[0] if errors else
                                 f"every Ray worker was lost ({len(self.lost)}); finished files are kept: "
                                 "run the same command with --resume when the cluster is back")
            (ref,), _ = ray.wait(list(inflight) + list(starting), num_returns=1)
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    _, node_ip, error = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    node_ip, error = "?", f"did not start (the same Ray and dreambridge there?): {first_line(exc)}"
                if error:
                    ray.kill(actor, no_restart=True)
                    errors.append(f"the Ray worker on {node_ip}: {error}")
                    self.log(f"ray: {errors[-1]}; running without it")
                else:
                    idle.append(actor)
                    where[actor] = node_ip
                continue
            actor, index = inflight.pop(ref)
            try:
                value, node, node_ip = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                ray.kill(actor, no_restart=True)
                self.lost.append({"node_ip": where[actor], "error": f"{type(exc).__name__}: {first_line(exc)}"})
                if attempts[index] >= MAX_ATTEMPTS:
                    yield index, None, "", "", attempts[index]
                else:
                    queue.appendleft(index)
                    self.retried.append(describe(items[index]))
                    self.log(f"ray: lost the worker on {where[actor]} ({type(exc).__name__}); "
                             f"{describe(items[index])} goes to another worker")
                continue
            idle.append(actor)
            self.nodes[node] += 1
            yield index, value, node, node_ip, attempts[index]
        for actor in starting.values():  # never found a free CPU: the work is done without it
            ray.kill(actor, no_restart=True)

    # -- batch ------------------------------------------------------------------------------
    def batch(self, settings, todo: list):
        """A :func:`~dreambridge.bridge.io.batch.run_batch` executor: dream ``todo`` on the
        cluster, write each output here, yield each result as its file finishes."""
        if not todo:
            return
        fields = {"model": settings.model, "preset": settings.preset, "automation": settings.automation,
                  "midi_map": settings.midi_map}
        # A model directory or .onnx file, a preset file, a MIDI file and map: shipped; names: not.
        paths = {k: v for k, v in fields.items() if v and (Path(v).is_file() or (k == "model" and Path(v).is_dir()))}
        # One thread per worker unless told: one worker per CPU, the most files at once.
        settings = dataclasses.replace(settings, threads=settings.threads or 1)
        starting = self._start(_batch_setup, (settings,), paths, settings.device, settings.threads)

        def prepare(job):
            try:
                return job, Path(job.input).read_bytes(), settings.subtype, ""
            except OSError as exc:
                return job, b"", settings.subtype, f"{job.input}: cannot read ({exc.strerror or exc})"

        finished = self._map(starting, _batch_item, todo, prepare, lambda j: j.input)
        for index, result, node, node_ip, attempts in finished:
            job = todo[index]
            if result is None:
                result = {"input": job.input, "output": job.output, "ok": False,
                          "error": f"{job.input}: its Ray worker died {attempts} times while dreaming it"}
            data = result.pop("data", None)
            if result["ok"]:
                atomic_write_bytes(job.output, data)
            result.update(node=node, node_ip=node_ip, attempts=attempts)
            yield result

    # -- atlas ------------------------------------------------------------------------------
    def atlas(self, model_spec, device: str, work: list):
        """A :func:`~dreambridge.bridge.lab.atlas.run_atlas` executor: yield ``(index, entry,
        audio)`` per map of ``work`` as maps finish."""
        if not work:
            return
        shipped = isinstance(model_spec, (str, os.PathLike)) and Path(model_spec).exists()
        paths = {"model": model_spec} if shipped else {}
        starting = self._start(_atlas_setup, (None if shipped else model_spec, device), paths, device)
        for index, value, *_, attempts in self._map(starting, _atlas_item, work, lambda item: item,
                                                   lambda item: f"map L{item[1]}_M{item[2]}"):
            if value is None:
                raise DreamError(f"map L{work[index][1]}_M{work[index][2]}: its Ray worker died {attempts} times")
            yield (index, *value)


# -- what actors run (module level: Ray imports it by name on every node) -------------------
def _batch_setup(paths: dict, settings):
    from dreambridge.bridge.io.batch import _make_dreamer

    return _make_dreamer(dataclasses.replace(settings, **paths))


def _batch_item(state, item, folder: Path) -> dict:
    """Dream one job's input bytes in a private folder; the result carries the output's bytes."""
    from dreambridge.bridge.io.batch import BatchJob, dream_job

    job, data, subtype, error = item
    if error:
        return {"input": job.input, "output": job.output, "ok": False, "error": error}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        # The same names (and so the same formats) as the driver's files, in folders of their own.
        src = Path(tmp) / "in" / Path(job.input).name
        dst = Path(tmp) / "out" / Path(job.output).name
        src.parent.mkdir()
        dst.parent.mkdir()
        src.write_bytes(data)
        result = dream_job(state, BatchJob(str(src), str(dst)), subtype)
        result.update(input=job.input, output=job.output)
        if result["ok"]:
            result["data"] = dst.read_bytes()
        else:
            result["error"] = result["error"].replace(str(src), job.input)
    return result


def _atlas_setup(paths: dict, model_spec, device: str):
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.presets import DreamParams

    return Dreamer(paths.get("model", model_spec), DreamParams(), device=device)


def _atlas_item(dreamer, item, folder: Path):
    from dreambridge.bridge.lab.atlas import _render_map

    base, layer, channel, grid_hz = item
    return _render_map(dreamer, base, layer, channel, grid_hz)
