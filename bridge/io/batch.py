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
import time
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

from dreambridge.presets.errors import DreamError, ParameterError
from dreambridge.presets.fileutil import atomic_write_text, sha256_bytes, sha256_file

__all__ = ["BatchJob", "BatchSettings", "collect_inputs", "plan", "run_batch", "describe_failure", "MANIFEST_NAME"]

MANIFEST_NAME = ".dreambridge-batch.json"
AUDIO_SUFFIXES = {".wav", ".flac", ".aif", ".aiff", ".ogg"}
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
    input_paths = {p.resolve() for p, _ in found}
    jobs, seen = [], {}
    for path, rel in found:
        ext = path.suffix.lstrip(".")
        name = template.format(stem=path.stem, name=path.name, ext=ext, preset=Path(settings.preset).stem,
                               model=Path(settings.model).name, seed=descriptor["seed"])
        out = out_dir / rel / name
        job = BatchJob(str(path), str(out))
        if out.resolve() in input_paths:
            job.error = f"output {out} would overwrite an input; choose another -o or --filename"
        elif str(out.resolve()) in seen:
            job.error = (
                f"output {out} is also the output of {seen[str(out.resolve())]}; add {{ext}} or keep names unique"
            )
        seen.setdefault(str(out.resolve()), str(path))
        if not job.error:
            job.key = sha256_bytes(json.dumps({"input": _file_identity(path), **descriptor}, sort_keys=True).encode())
        jobs.append(job)
    return jobs, errors


def _load_manifest(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _save_manifest(out_dir: Path, manifest: dict) -> None:
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True))


# -- workers -----------------------------------------------------------------------------
_DREAMER = None  # this process's Dreamer and its Resolved parameters (set once per worker)
_RESOLVED = None


def _worker_init(settings: BatchSettings):
    global _DREAMER, _RESOLVED
    _DREAMER, _RESOLVED = _make_dreamer(settings)


def _chains():
    """Fresh effect chains for one file (their state must not leak from file to file), with
    ``--set fx...`` values and the automation's effect lanes, as ``live`` applies them."""
    from dreambridge.bridge.live.fx import build_chains

    return build_chains(_RESOLVED.preset, _RESOLVED.fx, _RESOLVED.schedule)


def _make_dreamer(settings: BatchSettings):
    """``(Dreamer, Resolved)`` for ``settings``: every parameter validated before a file is touched."""
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
    return dreamer, resolved


def _dream_one(job: BatchJob, subtype, progress: bool = False) -> dict:
    from dreambridge.bridge.io.files import dream_file

    t0 = time.perf_counter()
    try:
        pre, post = _chains()
        stats = dream_file(_DREAMER, job.input, job.output, subtype, progress=progress, pre_fx=pre, post_fx=post)
        return {"input": job.input, "output": job.output, "ok": True, "seconds": time.perf_counter() - t0,
                "audio_seconds": stats.n_samples / max(_sample_rate(job.input), 1)}
    except DreamError as exc:
        return {"input": job.input, "output": job.output, "ok": False, "error": str(exc)}


def _sample_rate(path) -> int:
    import soundfile as sf

    return sf.info(path).samplerate


def descriptor_for(settings: BatchSettings, dreamer) -> dict:
    """Everything besides the input that determines an output."""
    schedule = dreamer.schedule
    desc = {
        "params": [p.to_dict() for p in (schedule.distinct() if schedule else [dreamer.params])],
        "model_sha256": dreamer.card.get("weights_sha256", ""),
        "backend": settings.backend,
        "subtype": settings.subtype,
        "seed": dreamer.params.seed,
        "engine": 1,
    }
    if settings.automation:
        desc["automation_sha256"] = sha256_file(settings.automation)
        desc["midi_map_sha256"] = sha256_file(settings.midi_map)
    return desc


def describe_failure(failure: dict) -> str:
    """One line: the error, prefixed by the input unless the error names it already."""
    error = failure["error"]
    return error if failure["input"] in error else f"{failure['input']}: {error}"


def run_batch(inputs, out_dir, template, settings: BatchSettings, jobs: int = 1, resume: bool = False,
              overwrite: bool = False, progress: bool = True, log=print) -> dict:
    """Run a batch; return the summary (``ok``, ``skipped``, ``failed`` lists)."""
    global _DREAMER, _RESOLVED
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _DREAMER, _RESOLVED = _make_dreamer(settings)  # validates everything before any file is touched
    descriptor = descriptor_for(settings, _DREAMER)
    if _RESOLVED.fx:
        descriptor["fx"] = _RESOLVED.fx
    work, missing = plan(inputs, out_dir, template, settings, descriptor)
    manifest = _load_manifest(out_dir)
    summary = {"ok": [], "skipped": [], "failed": [{"input": i, "error": e} for i, e in missing]}
    todo = []
    for job in work:
        out = Path(job.output)
        entry = manifest.get(str(out.resolve()), {})
        ours = entry.get("key") == job.key
        if job.error:
            summary["failed"].append({"input": job.input, "error": job.error})
        elif resume and out.exists() and ours and entry.get("status", "done") == "done":
            summary["skipped"].append({"input": job.input, "output": job.output})
        # An output marked "started" by an interrupted run with these settings is ours to redo.
        elif out.exists() and not overwrite and not (resume and ours):
            summary["failed"].append(
                {
                    "input": job.input,
                    "error": f"output {out} already exists; pass --overwrite (or --resume to skip finished files)",
                }
            )
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            # A run killed with -9 leaves its hidden temporary file (".stem.XXXX.part.ext");
            # it was never renamed, so it is ours to remove before writing this output again.
            for stale in out.parent.glob(f".{glob.escape(out.stem)}.*.part{out.suffix}"):
                stale.unlink(missing_ok=True)
            todo.append(job)
    for failure in summary["failed"]:
        log(f"skipped: {describe_failure(failure)}")
    # Mark every output "started" before it is written: a run killed between an output's atomic
    # rename and its "done" record leaves a file that --resume knows is its own, and redoes.
    for job in todo:
        manifest[str(Path(job.output).resolve())] = {"key": job.key, "input": job.input, "status": "started"}
    if todo:
        _save_manifest(out_dir, manifest)

    def record(result):
        if result["ok"]:
            manifest[str(Path(result["output"]).resolve())] = {
                "key": next(j.key for j in todo if j.output == result["output"]),
                "input": result["input"],
                "status": "done",
            }
            _save_manifest(out_dir, manifest)
            summary["ok"].append(result)
        else:
            summary["failed"].append({"input": result["input"], "error": result["error"]})
            log(f"failed: {describe_failure(summary['failed'][-1])}")

    t0 = time.perf_counter()
    overall = tqdm(total=len(todo), unit="file", desc="batch", disable=not progress or not todo, position=0)
    if jobs <= 1 or len(todo) <= 1:
        for job in todo:
            result = _dream_one(job, settings.subtype, progress=progress)
            record(result)
            overall.update(1)
    else:
        from dreambridge.bridge.engine.pool import process_pool

        with process_pool(jobs, _worker_init, (settings,)) as pool:
            futures = [pool.submit(_dream_one, job, settings.subtype) for job in todo]
            for future in as_completed(futures):
                result = future.result()
                record(result)
                overall.update(1)
                if result["ok"] and progress:
                    overall.write(
                        f"{result['output']}: {result['audio_seconds'] / max(result['seconds'], 1e-9):.1f}x real time"
                    )
    overall.close()
    audio = sum(r["audio_seconds"] for r in summary["ok"])
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["audio_seconds"] = audio
    summary["x_realtime"] = audio / max(summary["wall_seconds"], 1e-9)
    return summary
