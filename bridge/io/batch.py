"""``dreambridge batch``: folders of stems through the dream effect.

Outputs keep each input's length, rate, channels, format and subtype and start at
sample 0. Files are dreamed in blocks (constant memory), written to a temporary file and
renamed, so a killed run never leaves a partial output under its final name. A manifest
in the output folder (``.dreambridge-batch.json``) records, per output, a key of
everything that determines it (input file identity, parameters or automation, model
hash, seed, backend); ``--resume`` skips outputs whose key matches, so an interrupted run
completes with outputs identical to an uninterrupted one.
"""

from __future__ import annotations

import glob
import json
import os
import time
from concurrent.futures import as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dreambridge.presets.errors import DreamError, ParameterError, first_line
from dreambridge.presets.fileutil import atomic_write_text, sha256_bytes, sha256_file
from dreambridge.presets.shape import Integer, Table, Text, check

__all__ = ["LOCK_NAME", "MANIFEST_SHAPE", "BatchJob", "BatchSettings", "collect_inputs", "plan", "run_batch",
           "dream_job", "describe_failure", "MANIFEST_NAME"]

MANIFEST_NAME = ".dreambridge-batch.json"
AUDIO_SUFFIXES = {".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3"}  # what ``dream`` reads, folders included
LOCK_NAME = ".dreambridge-batch.lock"
MANIFEST_SECONDS = 0.5  # the longest a finished output waits for its "done" record
_ENTRY_SHAPE = Table({"key": Text(), "input": Text(), "status": Text(("started", "done")), "size": Integer(0),
                      "sha256": Text(pattern="[0-9a-f]{64}")}, required=("key",), label="a manifest entry")
MANIFEST_SHAPE = Table(others=_ENTRY_SHAPE, label="a JSON object of outputs")
TEMPLATE_KEYS = ("stem", "name", "ext", "preset", "model", "seed")


@dataclass
class BatchJob:
    input: str
    output: str
    key: str = ""
    error: str = ""


@dataclass
class BatchSettings:
    preset: str
    sets: list
    model: str
    backend: str
    device: str
    seed: int | None
    subtype: str | None
    automation: str | None = None
    midi_map: str | None = None
    extra: dict = field(default_factory=dict)
    # torch threads per worker (None: every core here, cores / jobs with --jobs, 1 per Ray worker).
    # oneDNN's conv input gradient depends on the split: outputs match to the bit at equal counts.
    threads: int | None = None


def collect_inputs(inputs: list[str], out_dir: Path) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """``([(file, relative output folder)], [(input, error)])`` from files, folders, globs."""
    found, errors = [], []
    out_resolved = out_dir.resolve()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            files = [p for p in files if out_resolved not in p.resolve().parents and not p.name.startswith(".")]
            found += [(p, p.parent.relative_to(path)) for p in files]
        elif path.is_file():
            found.append((path, Path(".")))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            matches = [m for m in matches if m.is_file() and m.suffix.lower() in AUDIO_SUFFIXES]
            if not matches:
                errors.append((item, "the pattern matches no audio files"))
            found += [(m, Path(".")) for m in matches]
        else:
            errors.append((item, "does not exist"))
    return found, errors


def _file_identity(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def plan(inputs, out_dir: Path, template: str, settings: BatchSettings, descriptor: dict):
    """Map inputs to outputs and keys; per-input errors are returned, not raised."""
    try:
        template.format(**{k: "x" for k in TEMPLATE_KEYS})
    except (KeyError, IndexError, ValueError) as exc:
        raise ParameterError(
            f"--filename {template!r} uses an unknown field {exc}; fields: "
            f"{', '.join('{' + k + '}' for k in TEMPLATE_KEYS)}"
        ) from None
    found, errors = collect_inputs(inputs, out_dir)
    if not found and not errors:
        raise ParameterError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) found in {' '.join(inputs)} "
                             f"(files inside the output folder {out_dir} are never inputs); check the paths")
    input_paths = {p.resolve() for p, _ in found} | {Path(f).resolve() for f in descriptor.get("files", ())}
    root = out_dir.resolve()
    jobs, seen = [], {}
    for path, rel in found:
        ext = path.suffix.lstrip(".")
        name = template.format(stem=path.stem, name=path.name, ext=ext, preset=Path(settings.preset).stem,
                               model=Path(settings.model).name, seed=descriptor["seed"])
        out = out_dir / rel / name
        job = BatchJob(str(path), str(out))
        if root not in out.resolve().parents:
            job.error = f"--filename {template!r} puts {path.name}'s output outside {out_dir}; use a plain file name"
        elif out.resolve() in input_paths:
            job.error = f"output {out} would overwrite an input; choose another -o or --filename"
        elif str(out.resolve()) in seen:
            job.error = (
                f"output {out} is also the output of {seen[str(out.resolve())]}; add {{ext}} or keep names unique"
            )
        seen.setdefault(str(out.resolve()), str(path))
        if not job.error:
            key_data = {"input": _file_identity(path), **{k: v for k, v in descriptor.items() if k != "files"}}
            job.key = sha256_bytes(json.dumps(key_data, sort_keys=True).encode())
        jobs.append(job)
    return jobs, errors


def _load_manifest(out_dir: Path) -> dict:
    """The manifest: ``{output path relative to out_dir: entry}`` (a moved folder keeps it)."""
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path}: unreadable batch manifest ({first_line(exc)}); delete it to start afresh") \
            from None
    return check(data, MANIFEST_SHAPE, str(path))


def _save_manifest(out_dir: Path, manifest: dict) -> None:
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True))


def _relative(out_dir: Path, output) -> str:
    return Path(output).resolve().relative_to(out_dir.resolve()).as_posix()


def _verified(out: Path, entry: dict) -> bool:
    """The output is the one recorded: same size and sha256 (a truncated or edited file is redone)."""
    try:
        return out.stat().st_size == entry.get("size") and sha256_file(out) == entry.get("sha256")
    except OSError:
        return False


@contextmanager
def _folder_lock(out_dir: Path):
    """One batch at a time per output folder: a second one is refused with one line."""
    import fcntl

    path = out_dir / LOCK_NAME
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise ParameterError(f"another batch (pid {holder}) is writing into {out_dir}; wait for it to finish "
                                 "or choose another -o") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


# -- workers -----------------------------------------------------------------------------
_DREAMER = None  # this process's Dreamer and its Resolved parameters (set once per worker)
_RESOLVED = None


def _worker_init(settings: BatchSettings):
    global _DREAMER, _RESOLVED
    import signal

    from dreambridge.presets.fileutil import exit_on_signal

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):  # the parent reports; a worker removes its .part and goes
        signal.signal(getattr(signal, name), exit_on_signal)
    _DREAMER, _RESOLVED = _make_dreamer(settings)


def _chains(resolved):
    """Fresh effect chains for one file (their state must not leak from file to file), with
    ``--set fx...`` values and the automation's effect lanes, as ``live`` applies them."""
    from dreambridge.bridge.live.fx import build_chains

    return build_chains(resolved.preset, resolved.fx, resolved.schedule)


def _make_dreamer(settings: BatchSettings, threads: int | None = None):
    """``(Dreamer, Resolved)`` for ``settings``: every parameter validated before a file is touched.
    ``threads`` (default ``settings.threads``) sets this thread's torch and the dreamer's
    onnxruntime thread count."""
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.engine.schedule import resolve

    automation = None
    if settings.automation:
        from dreambridge.bridge.live.automation import MidiAutomation
        from dreambridge.presets.midimap import load_midi_map

        midi_map = load_midi_map(settings.midi_map)

        def automation(base):
            return MidiAutomation(base, settings.automation, midi_map)

    resolved = resolve(settings.preset, settings.sets, seed=settings.seed, automation=automation)
    dreamer = Dreamer(settings.model, resolved.params, device=settings.device, backend=settings.backend)
    dreamer.set_schedule(resolved.schedule)
    if threads or settings.threads:
        _set_threads(dreamer, threads or settings.threads)
    return dreamer, resolved


def _set_threads(dreamer, threads: int) -> None:
    """onnxruntime's thread count for the sessions made from now on, and torch's when ``dreamer``
    runs a torch model (a dreamer on shipped graphs never imports torch)."""
    from dreambridge.bridge.engine.onnx_backend import set_num_threads

    set_num_threads(threads)
    if dreamer.model is not None:
        import torch

        torch.set_num_threads(threads)


def dream_job(state, job: BatchJob, subtype, progress: bool = False) -> dict:
    """Dream one file of a batch: the per-file work of every runner (this process, a worker
    process of ``--jobs``, a Ray actor of ``--ray``). ``state`` is ``(Dreamer, Resolved)``
    from :func:`_make_dreamer`. A :class:`DreamError` is a per-file failure (``ok`` false,
    ``error`` one line); anything else is a bug and propagates."""
    from dreambridge.bridge.io.files import dream_file

    dreamer, resolved = state
    t0 = time.perf_counter()
    try:
        pre, post = _chains(resolved)
        stats = dream_file(dreamer, job.input, job.output, subtype, progress=progress, pre_fx=pre, post_fx=post)
        return _job_result(job, stats, time.perf_counter() - t0)
    except (DreamError, OSError) as exc:
        return _job_result(job, exc)


def _job_result(job: BatchJob, outcome, seconds: float = 0.0) -> dict:
    """The result record of one file: ``outcome`` is its ``RenderStats``, or the ``DreamError`` /
    ``OSError`` (disk full, folder gone or read-only: this file fails, the batch goes on) that failed it."""
    if isinstance(outcome, DreamError):
        return {"input": job.input, "output": job.output, "ok": False, "error": str(outcome)}
    if isinstance(outcome, OSError):
        return {"input": job.input, "output": job.output, "ok": False, "error": f"{job.output}: {_os_error(outcome)}"}
    return {"input": job.input, "output": job.output, "ok": True, "seconds": seconds,
            "audio_seconds": outcome.n_samples / max(_sample_rate(job.input), 1),
            "size": os.path.getsize(job.output), "sha256": sha256_file(job.output)}


def _os_error(exc: OSError) -> str:
    from dreambridge.presets.fileutil import describe_os_error

    return describe_os_error(exc)


def _dream_one(job: BatchJob, subtype, progress: bool = False) -> dict:
    return dream_job((_DREAMER, _RESOLVED), job, subtype, progress)


def _short_groups(dreamer, todo: list) -> tuple[list, list]:
    """``(groups, rest)``: the jobs whose input is one excerpt or shorter (one-shots), grouped by
    rate and channel count into batches of ``dreamer.batch_size`` excerpt-channels (on a CPU: 1 for
    torch, 4 for onnx); every other job, and every job of the round-robin method, goes file by file."""
    if dreamer.params_at(0.0).method == "round_robin":
        return [], list(todo)
    import soundfile as sf

    buckets, rest = {}, []
    for job in todo:
        try:
            info = sf.info(job.input)
        except Exception:  # an unreadable file fails on its own path, with its own message
            rest.append(job)
            continue
        n_excerpt = dreamer.layout(info.samplerate)[0]
        if info.frames > n_excerpt or info.channels < 1:
            rest.append(job)
        else:
            buckets.setdefault((info.samplerate, info.channels), []).append(job)
    groups = []
    for (_, channels), jobs in buckets.items():
        size = max(1, dreamer.batch_size // channels)
        groups += [jobs[i : i + size] for i in range(0, len(jobs), size)]
    return groups, rest


def _dream_group(state, group: list, subtype) -> list:
    """Dream one group of one-shots with ``state`` (``(Dreamer, Resolved)``); their results."""
    from dreambridge.bridge.io.files import dream_short_files

    dreamer, resolved = state
    t0 = time.perf_counter()
    items = [(job.input, job.output, *_chains(resolved)) for job in group]
    outcomes = dream_short_files(dreamer, items, subtype)
    seconds = (time.perf_counter() - t0) / len(group)
    return [_job_result(job, outcome, seconds) for job, outcome in zip(group, outcomes)]


def _parallel_groups(settings: BatchSettings, groups: list, subtype, threads: int):
    """Dream ``groups`` on ``threads`` threads of this process, one group per thread at a time,
    each thread with its own ``Dreamer`` at one compute thread: files in parallel rather than
    one file over every core (the step's small ops barely use a second core; files scale), and
    while one thread dreams, another reads and writes. Results come in the groups' order.
    A one-shot's output depends only on itself (its own excerpt 0, its own random stream), not
    on its batch-mates or on which thread dreamed it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def work(group):
        if not hasattr(local, "state"):
            local.state = _make_dreamer(settings, threads=1)
        return _dream_group(local.state, group, subtype)

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dreambridge-batch")
    try:
        for future in [pool.submit(work, group) for group in groups]:
            yield from future.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # the running groups finish (whole files, or none)
        raise
    pool.shutdown(wait=True)


def _in_process(todo: list, subtype, progress: bool, settings: BatchSettings | None = None, threads: int = 1):
    """Dream ``todo`` in this process: one-shots in groups (on a CPU, ``threads`` groups at once,
    at one compute thread each), then the longer files one by one over every thread."""
    groups, rest = _short_groups(_DREAMER, todo)
    if groups and settings is not None and threads > 1 and _DREAMER.device_type != "cuda":
        yield from _parallel_groups(settings, groups, subtype, threads)
        _set_threads(_DREAMER, threads)  # onnxruntime's count is per process: every thread again for the rest
    else:
        for group in groups:
            yield from _dream_group((_DREAMER, _RESOLVED), group, subtype)
    for job in rest:
        yield _dream_one(job, subtype, progress=progress)


def _sample_rate(path) -> int:
    import soundfile as sf

    return sf.info(path).samplerate


def descriptor_for(settings: BatchSettings, dreamer, threads: int = 1) -> dict:
    """Everything besides the input that determines an output (the thread count included: float
    reductions in torch and onnxruntime round differently with another count)."""
    schedule = dreamer.schedule
    desc = {
        "params": [p.to_dict() for p in (schedule.distinct() if schedule else [dreamer.params])],
        "model_sha256": dreamer.card.get("weights_sha256", ""),
        "backend": dreamer.backend_name,  # auto resolved: the backend that ran
        "subtype": settings.subtype,
        "seed": dreamer.params.seed,
        "threads": threads,
        "engine": 3,  # 3: one-shots on a CPU dreamed in parallel groups at one compute thread each
    }
    from dreambridge.presets import load_preset

    desc["files"] = [str(f) for f in (settings.automation, settings.midi_map, load_preset(settings.preset).path) if f]
    if settings.automation:
        desc["automation_sha256"] = sha256_file(settings.automation)
        desc["midi_map_sha256"] = sha256_file(settings.midi_map)
    return desc


def describe_failure(failure: dict) -> str:
    """One line: the error, prefixed by the input unless the error names it already."""
    error = failure["error"]
    return error if failure["input"] in error else f"{failure['input']}: {error}"


def _local_results(settings: BatchSettings, todo: list, jobs: int, threads: int, progress: bool):
    """Dream ``todo`` here (``jobs`` 1) or in ``jobs`` processes of ``threads`` threads; yield
    results as files finish. A worker that dies fails its file, not the batch; a signal or
    Ctrl-C stops the workers at once (each removes its ``.part``)."""
    from dreambridge.bridge.engine.pool import plan_workers, process_pool

    if plan_workers(jobs, threads)[0] <= 1 or len(todo) <= 1:  # one process: no pool, no second model load
        yield from _in_process(todo, settings.subtype, progress, settings, threads)
        return
    from concurrent.futures.process import BrokenProcessPool

    with process_pool(jobs, _worker_init, (settings,), threads=threads) as pool:
        futures = {pool.submit(_dream_one, job, settings.subtype): job for job in todo}
        try:
            for future in as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:
                    job = futures[future]
                    yield {"input": job.input, "output": job.output, "ok": False,
                           "error": "a worker process died (killed, or out of memory); run again with --resume"}
        except BaseException:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def run_batch(inputs, out_dir, template, settings: BatchSettings, jobs: int = 1, resume: bool = False,
              overwrite: bool = False, progress: bool = True, log=print, executor=None) -> dict:
    """Run a batch; return the summary (``ok``, ``skipped``, ``failed`` lists).

    ``executor(settings, todo)``, when given, dreams the jobs elsewhere (a Ray cluster) and
    yields each job's result, its output already written, as it finishes; by default they
    are dreamed here, or in ``jobs`` processes."""
    global _DREAMER, _RESOLVED

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"-o {out_dir} is a file; give a folder for the outputs (it is created if missing)")
    _DREAMER, _RESOLVED = _make_dreamer(settings)  # validates everything before any file is touched
    out_dir.mkdir(parents=True, exist_ok=True)
    with _folder_lock(out_dir):
        return _run_locked(inputs, out_dir, template, settings, jobs, resume, overwrite, progress, log, executor)


def _run_locked(inputs, out_dir: Path, template: str, settings: BatchSettings, jobs: int, resume: bool, overwrite: bool,
                progress: bool, log, executor=None) -> dict:
    from tqdm import tqdm

    from dreambridge.bridge.engine.pool import available_cores, default_threads, plan_workers

    # Output bits depend on the thread count (the input gradient's reductions), so it is part of the key:
    # --threads N, else 1 per Ray worker, else the cores shared out over --jobs (in-process files use the same).
    threads = settings.threads or (1 if executor is not None else default_threads(jobs))
    _set_threads(_DREAMER, threads)
    processes = plan_workers(jobs, threads)[0]
    if executor is None and processes < jobs:
        log(f"batch: --jobs {jobs} with {threads} thread(s) each would oversubscribe the {available_cores()} "
            f"core(s); running {processes} process(es)")
    descriptor = descriptor_for(settings, _DREAMER, threads)
    if _RESOLVED.fx:
        descriptor["fx"] = _RESOLVED.fx
    work, missing = plan(inputs, out_dir, template, settings, descriptor)
    manifest = _load_manifest(out_dir)
    summary = {"ok": [], "skipped": [], "failed": [{"input": i, "error": e} for i, e in missing]}
    todo = []
    for job in work:
        out = Path(job.output)
        entry = manifest.get(_relative(out_dir, out), {}) if not job.error else {}
        # An output a batch recorded in this folder (done with other settings, or "started" by an
        # interrupted run) is ours to redo under --resume; a finished one is skipped only if verified.
        ours = bool(entry)
        if job.error:
            summary["failed"].append({"input": job.input, "error": job.error})
        elif resume and out.exists() and entry.get("key") == job.key and entry.get("status") == "done" \
                and _verified(out, entry):
            summary["skipped"].append({"input": job.input, "output": job.output})
        elif out.exists() and not overwrite and not (resume and ours):
            summary["failed"].append(
                {
                    "input": job.input,
                    "error": f"output {out} already exists; pass --overwrite (or --resume to skip finished files)",
                }
            )
        else:
            # A run killed with -9 leaves its hidden temporary file; the writer removes those of dead pids.
            out.parent.mkdir(parents=True, exist_ok=True)
            todo.append(job)
    for failure in summary["failed"]:
        log(f"skipped: {describe_failure(failure)}")
    # Mark every output "started" before it is written: a run killed between an output's atomic
    # rename and its "done" record leaves a file that --resume knows is its own, and redoes.
    for job in todo:
        manifest[_relative(out_dir, job.output)] = {"key": job.key, "input": job.input, "status": "started"}
    if todo:
        _save_manifest(out_dir, manifest)

    keys = {job.output: job.key for job in todo}
    unsaved = {"count": 0, "since": time.perf_counter()}

    def save_pending(force: bool = False):
        # "done" records are written at most every MANIFEST_SECONDS (a folder of one-shots finishes dozens of
        # files a second): one the manifest has not caught up with is "started", so --resume redoes it.
        if unsaved["count"] and (force or time.perf_counter() - unsaved["since"] >= MANIFEST_SECONDS):
            _save_manifest(out_dir, manifest)
            unsaved["count"], unsaved["since"] = 0, time.perf_counter()

    def record(result):
        if result["ok"]:
            manifest[_relative(out_dir, result["output"])] = {"key": keys[result["output"]], "input": result["input"],
                                                               "status": "done", "size": result["size"],
                                                               "sha256": result["sha256"]}
            unsaved["count"] += 1
            save_pending()
            summary["ok"].append(result)
        else:
            summary["failed"].append({"input": result["input"], "error": result["error"]})
            log(f"failed: {describe_failure(summary['failed'][-1])}")

    t0 = time.perf_counter()
    overall = tqdm(total=len(todo), unit="file", desc="batch", disable=not progress or not todo, position=0)
    parallel = executor is not None or (jobs > 1 and len(todo) > 1)
    results = executor(settings, todo) if executor is not None else _local_results(settings, todo, jobs, threads,
                                                                                   progress)
    try:
        for result in results:
            record(result)
            overall.update(1)
            if parallel and result["ok"] and progress:
                speed = result["audio_seconds"] / max(result["seconds"], 1e-9)
                overall.write(f"{result['output']}: {speed:.1f}x real time")
    finally:
        save_pending(force=True)  # interrupted too: what is done is recorded (each record is true)
    overall.close()
    audio = sum(r["audio_seconds"] for r in summary["ok"])
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["audio_seconds"] = audio
    summary["x_realtime"] = audio / max(summary["wall_seconds"], 1e-9)
    return summary
