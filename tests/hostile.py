"""The hostile cases of issue 18, re-run: every failure class, each as several concrete cases.

Each case builds its inputs in a fresh folder, runs one ``dreambridge`` command (in-process
through ``main``, or as a real process where signals, FIFOs or concurrency need one) and is
judged on the promises, whatever the command:

- no traceback, and a failing command says why on stderr (exit code non-zero);
- every file that existed before the run is unchanged (sha256), unless the case names it as
  an output it may replace;
- no partial file (``*.part*``, ``*.tmp``) is left anywhere in the folder;
- every audio file written is finite and decodes at or under the -0.1 dBFS ceiling, and the
  case's own check (exit code expected, channels kept, silence kept, ...) holds.

``python tests/hostile.py`` prints the totals (the README's "Reliability" table);
``--json`` prints every case; ``--group N`` runs one group. ``tests/bridge/test_cli.py``
runs a sample of every group.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

__all__ = ["Case", "CASES", "Outcome", "run_case", "run_all", "summarise", "CEILING", "FAST", "Env", "tone", "wav", "corrupt",
           "sha256_of", "part_files", "start_cli", "wait_for"]

CEILING = 10 ** (-0.1 / 20)
SR = 44100
AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
FAST = ["--set", "iterations=2", "--set", "excerpt_seconds=0.25", "--set", "crossfade_seconds=0.05"]


@dataclass
class Case:
    """One hostile case: ``setup(folder, env) -> argv`` builds the inputs and the command."""

    group: int
    name: str
    setup: object
    expect: str = "any"  # "fail", "ok" or "any" (either is fine if the promises hold)
    check: object = None  # (folder, rc, stdout, stderr) -> None or a text saying what is wrong
    mutable: tuple = ()  # names of pre-existing files the command may replace
    process: bool = False  # run as a real process (signals, FIFOs, env)
    timeout: float = 120
    signal: str = ""  # send this signal once the command's first .part file exists
    scenario: object = None  # (folder, env, argv) -> (rc, stdout, stderr): several commands in a row


@dataclass
class Outcome:
    group: int
    name: str
    rc: int | None
    traceback: bool = False
    inputs_modified: list = field(default_factory=list)
    partial_files: list = field(default_factory=list)
    wrong: list = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.traceback or self.inputs_modified or self.partial_files or self.wrong)


# -- fixtures -------------------------------------------------------------------------------
class Env:
    """Shared, built once: the tiny random model, an exported ONNX graph of it."""

    def __init__(self, root: Path):
        self.root = root
        self._model = None
        self._onnx = None

    @property
    def model(self) -> Path:
        if self._model is None:
            import torch

            from dreambridge.models.checkpoint import save_checkpoint
            from dreambridge.models.factory import build_model

            torch.manual_seed(0)
            self._model = self.root / "models" / "tiny"
            save_checkpoint(build_model("model2", 4).eval(), self._model, {"name": "tiny", "class_names": list("abcd")})
        return self._model

    @property
    def onnx(self) -> Path:
        if self._onnx is None:
            from dreambridge.export.onnx_export import export_dream_step
            from dreambridge.models.checkpoint import load_checkpoint

            model, card = load_checkpoint(self.model)
            self._onnx = self.root / "tiny_step.onnx"
            export_dream_step(model, card, self._onnx, shapes=((1, 11025),))
        return self._onnx


def tone(seconds=0.4, n_channels=1, peak=0.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = np.stack([np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.1 * rng.standard_normal(len(t)) for c in range(n_channels)])
    return (peak * out / np.max(np.abs(out))).astype(np.float32)


def wav(path, audio=None, subtype="PCM_16", fmt=None):
    audio = tone() if audio is None else audio
    sf.write(str(path), np.atleast_2d(audio).T, SR, subtype=subtype, format=fmt)
    return str(path)


def corrupt(path, how: str, seed: int = 0) -> str:
    data = bytearray(Path(path).read_bytes())
    rng = np.random.default_rng(seed)
    n = len(data)
    if how == "truncated":
        data = data[: int(n * 0.55)]
    elif how == "bitflip":
        for i in rng.integers(n // 4, n, size=max(8, n // 200)):
            data[i] ^= 1 << int(rng.integers(0, 8))
    elif how == "garbage":
        lo = n // 3
        data[lo : lo + n // 3] = rng.integers(0, 256, size=n // 3, dtype=np.uint8).tobytes()
    elif how == "header-only":
        data = data[:64]
    Path(path).write_bytes(bytes(data))
    return str(path)


def preset(folder: Path, body: str, name="p.toml") -> str:
    path = folder / name
    path.write_text("schema = 1\n" + body)
    return str(path)


def midimap(folder: Path, body: str, name="map.toml") -> str:
    return preset(folder, body, name)


def midi_file(folder: Path, ticks_per_beat=480, tempo=500000, name="a.mid") -> str:
    import mido

    mid = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    track.append(mido.Message("control_change", control=77, value=100, time=240))
    mid.save(str(folder / name))
    return str(folder / name)


def model_copy(env: Env, folder: Path, edit) -> str:
    """A copy of the tiny model with its card edited by ``edit(card)``."""
    import shutil

    target = folder / "model"
    shutil.copytree(env.model, target)
    card = json.loads((target / "model.json").read_text())
    edit(card)
    (target / "model.json").write_text(json.dumps(card))
    return str(target)


def nan_weights_model(env: Env, folder: Path, value=float("nan")) -> str:
    """Weights replaced by ``value`` and the card's hash updated to match (hash checks pass)."""
    import shutil

    from safetensors.torch import load_file, save_file

    from dreambridge.models.checkpoint import sha256_file

    target = folder / "model"
    shutil.copytree(env.model, target)
    state = load_file(str(target / "weights.safetensors"))
    first = sorted(k for k in state if state[k].is_floating_point())[0]
    state[first] = state[first] * 0 + value
    save_file(state, str(target / "weights.safetensors"))
    card = json.loads((target / "model.json").read_text())
    card["weights_sha256"] = sha256_file(target / "weights.safetensors")
    (target / "model.json").write_text(json.dumps(card))
    return str(target)


def edited_onnx(env: Env, folder: Path, how: str) -> str:
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(env.onnx))
    for init in proto.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype.kind == "f" and array.size > 8:
            new = {"nan": np.full_like(array, np.nan), "zero": np.zeros_like(array), "triple": array * 3}[how]
            init.CopyFrom(numpy_helper.from_array(new, init.name))
            break
    out = folder / f"{how}.onnx"
    onnx.save(proto, str(out))
    return str(out)


# -- checks -----------------------------------------------------------------------------------
def expect_channels(name, n):
    def check(folder, rc, out, err):
        info = sf.info(str(folder / name))
        return None if info.channels == n else f"{name} has {info.channels} channels, expected {n}"
    return check


def expect_quiet(name, limit=1e-4):
    def check(folder, rc, out, err):
        audio, _ = sf.read(str(folder / name), always_2d=True)
        return None if np.max(np.abs(audio)) <= limit else f"{name} peaks at {np.max(np.abs(audio)):.3g} (expected silence)"
    return check


def expect_files(*names):
    def check(folder, rc, out, err):
        missing = [n for n in names if not (folder / n).exists()]
        return f"missing {missing}" if missing else None
    return check


def _no_output(folder, rc, out, err):
    if rc == 0:
        return None  # it finished before the signal: the whole file is fine
    return "a signalled dream left out.wav" if (folder / "out.wav").exists() else None


def expect_in(text):
    def check(folder, rc, out, err):
        return None if text in err + out else f"{text!r} not in the message"
    return check


def audio_outputs(folder: Path, before: dict) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXT and str(p) not in before]


def hashes(folder: Path) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def partials(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]


def _signalled(cmd, env, timeout: float, folder: Path, sig: str):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not list(folder.glob(".*.part*")):
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err, False


def run_cli(argv, process: bool, timeout: float, env_vars=None, folder=None, sig="") -> tuple[int | None, str, str, bool]:
    """``(rc, stdout, stderr, escaped)``; ``escaped``: an exception got out of ``main``."""
    if process:
        exe = [sys.executable, "-m", "dreambridge.bridge.cli"]
        env = dict(os.environ, PYTHONWARNINGS="ignore", **(env_vars or {}))
        if sig:
            return _signalled(exe + argv, env, timeout, folder, sig)
        try:
            proc = subprocess.run(exe + argv, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return None, "", f"timed out after {timeout:g} s", False
        return proc.returncode, proc.stdout, proc.stderr, False
    from dreambridge.bridge.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env_vars or {})}
    os.environ.update(env_vars or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # noqa: BLE001 - anything escaping main is a traceback
                import traceback

                return 1, out.getvalue(), err.getvalue() + "Traceback (escaped main)\n" + traceback.format_exc(), True
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rc, out.getvalue(), err.getvalue(), False


def run_case(case: Case, env: Env, root: Path) -> Outcome:
    folder = root / f"g{case.group:02d}_{case.name}"
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    built = case.setup(folder, env)
    argv, env_vars = (built if isinstance(built, tuple) else (built, None))
    before = hashes(folder)
    if case.scenario is not None:
        rc, out, err = case.scenario(folder, env, [str(a) for a in argv])
        escaped = False
    else:
        rc, out, err, escaped = run_cli([str(a) for a in argv], case.process, case.timeout, env_vars, folder, case.signal)
    outcome = Outcome(case.group, case.name, rc, seconds=time.perf_counter() - t0)
    outcome.traceback = escaped or "Traceback" in err
    outcome.message = next((line for line in err.splitlines() if "error" in line or "failed" in line), "")[:200]
    after = hashes(folder)
    mutable = {str(folder / m) for m in case.mutable}
    outcome.inputs_modified = [p for p, h in before.items() if p not in mutable and after.get(p) != h]
    outcome.partial_files = partials(folder)
    if rc is None:
        outcome.wrong.append("hung: " + err)
    elif case.expect == "fail" and rc == 0:
        outcome.wrong.append("exit 0 where an error was due")
    elif case.expect == "ok" and rc != 0:
        outcome.wrong.append(f"exit {rc}: {outcome.message or err[-200:]}")
    if rc not in (0, None) and not err.strip():
        outcome.wrong.append("failed without a message")
    for path in audio_outputs(folder, before):
        try:
            audio, _ = sf.read(str(path), dtype="float64", always_2d=True)
        except Exception as exc:  # noqa: BLE001
            outcome.wrong.append(f"{path.name} does not decode ({exc})")
            continue
        if not np.all(np.isfinite(audio)):
            outcome.wrong.append(f"{path.name} holds NaN/Inf")
        elif audio.size and np.max(np.abs(audio)) > CEILING:
            outcome.wrong.append(f"{path.name} peaks at {20 * np.log10(np.max(np.abs(audio))):+.5f} dBFS")
    if case.check is not None and rc is not None and not outcome.wrong:
        problem = case.check(folder, rc, out, err)
        if problem:
            outcome.wrong.append(problem)
    return outcome


# -- the cases --------------------------------------------------------------------------------
def _dream(folder, src, *extra, out="out.wav", model=None, env=None):
    return ["dream", src, "-o", folder / out, "--quiet", "--model", model or env.model, *FAST, *extra]


def _cases() -> list[Case]:
    cases = []
    add = cases.append

    # 1. corrupt audio mid-stream: dream says one line, batch carries on
    formats = [("wav16", "WAV", "PCM_16", ".wav"), ("wavf", "WAV", "FLOAT", ".wav"), ("flac", "FLAC", "PCM_16", ".flac"),
               ("ogg", "OGG", "VORBIS", ".ogg"), ("mp3", "MP3", "MPEG_LAYER_III", ".mp3"), ("aiff", "AIFF", "PCM_24", ".aiff")]
    for label, fmt, subtype, ext in formats:
        for how in ("truncated", "bitflip", "garbage", "header-only"):
            def setup(f, env, fmt=fmt, subtype=subtype, ext=ext, how=how):
                src = corrupt(wav(f / f"in{ext}", tone(1.0), subtype, fmt), how)
                return _dream(f, src, out="out.wav", env=env)
            add(Case(1, f"dream-{label}-{how}", setup))
    for label, fmt, subtype, ext in formats[2:5]:
        def setup(f, env, fmt=fmt, subtype=subtype, ext=ext):
            (f / "in").mkdir()
            corrupt(wav(f / "in" / f"a_bad{ext}", tone(1.0), subtype, fmt), "garbage")
            wav(f / "in" / "b_good.wav")
            return ["batch", f / "in", "-o", f / "out", "--quiet", "--model", env.model, *FAST]
        add(Case(1, f"batch-carries-on-{label}", setup, check=expect_files("out/b_good_default.wav")))

    # 2. the post-fx chain cannot bypass the finisher
    for label, body, expect in [("gain-inf", 'plugin = "Gain"\ngain_db = inf', "fail"),
                                ("gain-nan", 'plugin = "Gain"\ngain_db = nan', "fail"),
                                ("gain-40", 'plugin = "Gain"\ngain_db = 40', "ok"),
                                ("reverb-wet", 'plugin = "Reverb"\nwet_level = 1.0\ndry_level = 1.0\nroom_size = 1.0', "ok"),
                                ("distortion", 'plugin = "Distortion"\ndrive_db = 60', "ok")]:
        for subtype in ("FLOAT", "PCM_16"):
            def setup(f, env, body=body, subtype=subtype):
                p = preset(f, f"[[fx.post]]\n{body}\n")
                return _dream(f, wav(f / "in.wav", subtype=subtype), "--preset", p, env=env)
            add(Case(2, f"post-{label}-{subtype}", setup, expect=expect))

    # 3. style: non-finite options and divergence
    for label, extra in [("weight-nan", ["--style-weight", "nan"]), ("weight-inf", ["--style-weight", "inf"]),
                         ("lr-inf", ["--learning-rate", "inf"]), ("lr-nan", ["--learning-rate", "nan"]),
                         ("lr-zero", ["--learning-rate", "0"]), ("stft-nan", ["--method", "stft", "--style-weight", "nan"]),
                         ("stft-lr-inf", ["--method", "stft", "--learning-rate", "inf"])]:
        def setup(f, env, extra=extra):
            return ["style", wav(f / "c.wav"), wav(f / "s.wav", tone(seed=3)), "-o", f / "o.wav", "--model", env.model,
                    "--iterations", "3", "--content-layer", "2", "--style-layers", "0", "1", "--quiet", *extra]
        add(Case(3, f"style-{label}", setup, expect="fail"))

    # 4. every file a command reads is an input
    def target_is_output(f, env):
        src, target = wav(f / "in.wav"), wav(f / "t.wav", tone(seed=5))
        return _dream(f, src, "--overwrite", "--set", "mode=target", "--target", target, out="t.wav", env=env)
    add(Case(4, "target-as-output", target_is_output, expect="fail"))

    def style_is_output(f, env):
        return ["style", wav(f / "c.wav"), wav(f / "s.wav"), "-o", f / "s.wav", "--overwrite", "--model", env.model,
                "--iterations", "2", "--content-layer", "2", "--style-layers", "0", "--quiet"]
    add(Case(4, "style-as-output", style_is_output, expect="fail"))

    def content_is_output(f, env):
        return ["style", wav(f / "c.wav"), wav(f / "s.wav"), "-o", f / "c.wav", "--overwrite", "--model", env.model,
                "--iterations", "2", "--content-layer", "2", "--style-layers", "0", "--quiet"]
    add(Case(4, "content-as-output", content_is_output, expect="fail"))

    def batch_over_automation(f, env):
        (f / "in").mkdir()
        wav(f / "in" / "a.wav")
        mid = midi_file(f / "in", name="a_default.wav.mid")
        mp = midimap(f, '[[cc]]\ncc = 77\nparam = "mix"\nrange = [0.0, 1.0]\n')
        return ["batch", f / "in", "-o", f / "in", "--filename", "{name}.mid", "--overwrite", "--quiet", "--model", env.model,
                "--automation", mid, "--midi-map", mp, *FAST]
    add(Case(4, "batch-output-over-automation", batch_over_automation))

    def plot_over_input(f, env):
        (f / "p.png").write_bytes(b"\x89PNG not really")
        return _dream(f, wav(f / "in.wav"), "--plot", f / "p.png", env=env)
    add(Case(4, "plot-exists-no-overwrite", plot_over_input, expect="fail"))

    # 5. hot float input
    for peak in (1.5, 4.0, 1e30):
        for extra in ([], ["--set", "mix=0"]):
            def setup(f, env, peak=peak, extra=extra):
                return _dream(f, wav(f / "in.wav", tone(peak=peak), "FLOAT"), *extra, env=env)
            add(Case(5, f"hot-{peak:g}{'-mix0' if extra else ''}", setup, expect="fail", check=expect_in("full scale")))
    add(Case(5, "float-at-full-scale", lambda f, env: _dream(f, wav(f / "in.wav", tone(peak=1.0), "FLOAT"), env=env), expect="ok"))

    # 6. lossy outputs stay under the ceiling once decoded
    for ext in (".ogg", ".mp3"):
        for peak in (0.99, 1.0):
            def setup(f, env, ext=ext, peak=peak):
                return _dream(f, wav(f / "in.wav", tone(1.0, peak=peak), "FLOAT"), "--set", "mix=0", out=f"out{ext}", env=env)
            add(Case(6, f"lossy{ext}-{peak:g}", setup, expect="ok"))
    add(Case(6, "pcm16-ceiling", lambda f, env: _dream(f, wav(f / "in.wav", tone(peak=1.0)), "--set", "mix=0", env=env),
             expect="ok"))

    # 7. file-system errors
    add(Case(7, "dream-o-folder", lambda f, env: (f / "d").mkdir() or _dream(f, wav(f / "in.wav"), out="d", env=env), expect="fail"))
    add(Case(7, "dream-o-missing-folder", lambda f, env: _dream(f, wav(f / "in.wav"), out="nope/o.wav", env=env), expect="fail"))
    add(Case(7, "dream-o-under-file", lambda f, env: _dream(f, wav(f / "in.wav"), out="in.wav/o.wav", env=env), expect="fail"))
    add(Case(7, "batch-o-file", lambda f, env: ["batch", wav(f / "in.wav"), "-o", wav(f / "x.wav"), "--quiet", "--model",
                                                env.model, *FAST], expect="fail"))
    add(Case(7, "sweep-o-file", lambda f, env: ["sweep", "iterations", "1", "-o", wav(f / "x.wav"), "--model", env.model,
                                                "--quiet", "--seconds", "0.2"], expect="fail"))
    add(Case(7, "export-o-folder", lambda f, env: (f / "d.onnx").mkdir() or ["export", env.model, "-o", f / "d.onnx"],
             expect="fail"))
    add(Case(7, "plot-missing-folder", lambda f, env: _dream(f, wav(f / "in.wav"), "--plot", f / "no" / "p.png", env=env),
             expect="fail", check=lambda f, rc, o, e: "out.wav was written" if (f / "out.wav").exists() else None))
    add(Case(7, "unreadable-input", lambda f, env: _dream(f, str(f / "nope.wav"), env=env), expect="fail"))

    # 8. two batches into one folder: the second is refused in one line, the first finishes
    add(Case(8, "two-batches-one-folder", _stems_batch, scenario=_two_batches, expect="fail",
             check=lambda f, rc, o, e: None if "another batch" in e and "first rc=0" in o else f"first batch: {o}"))

    # 12. output bytes and --jobs: a resume under another job count matches a clean run under that count
    add(Case(12, "resume-under-other-jobs", _stems_batch, scenario=_jobs_resume, expect="ok",
             check=lambda f, rc, o, e: None if "identical" in o else o))

    # 15. resume: a moved folder skips its finished files; a damaged output is redone
    add(Case(15, "resume-moved-folder", _stems_batch, scenario=_moved_resume, expect="ok",
             check=lambda f, rc, o, e: None if "skipped=2 redone=1 identical" in o else o))

    # 9. valid TOML/JSON of the wrong shape
    for label, body in [("sequence-5", "sequence = 5\n"), ("fx-pre-numbers", "[fx]\npre = [1, 2]\n"), ("params-5", "params = 5\n"),
                        ("fx-text", 'fx = "x"\n'), ("sequence-time-text", '[[sequence]]\ntime = "a"\nlayer = 1\n'),
                        ("sequence-time-nan", "[[sequence]]\ntime = nan\nlayer = 1\n"), ("name-5", "name = 5\n"),
                        ("fx-entry-list", '[[fx.post]]\nplugin = "Gain"\ngain_db = [1, 2]\n'),
                        ("fx-unknown-param", '[[fx.post]]\nplugin = "Gain"\nvolume = 3\n'),
                        ("params-table-value", "[params]\nlayer = {a = 1}\n")]:
        def setup(f, env, body=body):
            return _dream(f, wav(f / "in.wav"), "--preset", preset(f, body), env=env)
        add(Case(9, f"preset-{label}", setup, expect="fail"))
    for label, body in [("cc-5", "cc = 5\n"), ("program-change-numbers", "program_change = [1, 2]\n"),
                        ("values-5", '[[cc]]\ncc = 1\nparam = "grad_norm"\ncurve = "choice"\nvalues = 5\n'),
                        ("range-text", '[[cc]]\ncc = 1\nparam = "mix"\nrange = "x"\n'),
                        ("cc-text", '[[cc]]\ncc = "a"\nparam = "mix"\nrange = [0, 1]\n'),
                        ("smoothing-nan", '[[cc]]\ncc = 1\nparam = "mix"\nrange = [0, 1]\nsmoothing_ms = nan\n'),
                        ("range-nan", '[[cc]]\ncc = 1\nparam = "mix"\nrange = [nan, 1]\n')]:
        def setup(f, env, body=body):
            return ["batch", wav(f / "in.wav"), "-o", f / "o", "--quiet", "--model", env.model, "--automation",
                    midi_file(f), "--midi-map", midimap(f, body), *FAST]
        add(Case(9, f"map-{label}", setup, expect="fail"))
    for label, kw in [("ticks-0", {"ticks_per_beat": 0}), ("tempo-0", {"tempo": 0})]:
        def setup(f, env, kw=kw):
            mp = midimap(f, '[[cc]]\ncc = 77\nparam = "mix"\nrange = [0.0, 1.0]\n')
            return ["batch", wav(f / "in.wav"), "-o", f / "o", "--quiet", "--model", env.model, "--automation",
                    midi_file(f, **kw), "--midi-map", mp, *FAST]
        add(Case(9, f"mid-{label}", setup, expect="fail"))
    for label, edit in [("sha-number", lambda c: c.update(weights_sha256=5)), ("arch-text", lambda c: c.update(architecture="x")),
                        ("n-classes-negative", lambda c: c["architecture"].update(n_classes=-1)),
                        ("weights-number", lambda c: c.update(weights=5)), ("weights-escape", lambda c: c.update(weights="../x")),
                        ("class-names-5", lambda c: c.update(class_names=5)), ("card-list", lambda c: c.clear()),
                        ("accuracy-text", lambda c: c.update(test_accuracy="high"))]:
        def setup(f, env, edit=edit):
            return _dream(f, wav(f / "in.wav"), model=model_copy(env, f, edit), env=env)
        add(Case(9, f"card-{label}", setup, expect="fail"))

    def manifest_list(f, env):
        (f / "o").mkdir()
        (f / "o" / ".dreambridge-batch.json").write_text("[1, 2]")
        return ["batch", wav(f / "in.wav"), "-o", f / "o", "--quiet", "--model", env.model, "--resume", *FAST]
    add(Case(9, "manifest-list", manifest_list, expect="fail"))

    def models_list_one_bad(f, env):
        import shutil

        shutil.copytree(env.model, f / "user" / "good")
        (f / "user" / "bad").mkdir()
        (f / "user" / "bad" / "model.json").write_text('{"architecture": "x", "weights_sha256": 5, "class_names": []}')
        return ["models", "list"], {"DREAMBRIDGE_MODELS": str(f / "user")}
    add(Case(9, "models-list-one-bad", models_list_one_bad, check=lambda f, rc, o, e: None if "good" in o else "good model not listed"))

    # 10. signals during dream: no .part left (a real process, signalled mid-render)
    for sig in ("SIGTERM", "SIGHUP", "SIGINT"):
        add(Case(10, f"dream-{sig}", _signal_case, process=True, signal=sig, check=_no_output))

    # 11. ONNX graphs and weights
    for how in ("nan", "zero", "triple"):
        def setup(f, env, how=how):
            return _dream(f, wav(f / "in.wav"), "--backend", "onnx", model=edited_onnx(env, f, how), env=env)
        add(Case(11, f"onnx-{how}", setup, expect="fail"))
    add(Case(11, "onnx-intact", lambda f, env: _dream(f, wav(f / "in.wav"), "--backend", "onnx", model=env.onnx, env=env),
             expect="ok"))
    for value in (float("nan"), float("inf")):
        def setup(f, env, value=value):
            return _dream(f, wav(f / "in.wav"), model=nan_weights_model(env, f, value), env=env)
        add(Case(11, f"torch-weights-{value}", setup, expect="fail"))

    # 13. style keeps channels
    for n in (2, 3):
        def setup(f, env, n=n):
            return ["style", wav(f / "c.wav", tone(n_channels=n)), wav(f / "s.wav", tone(seed=2)), "-o", f / "o.wav", "--model",
                    env.model, "--iterations", "2", "--content-layer", "2", "--style-layers", "0", "--quiet"]
        add(Case(13, f"style-{n}ch", setup, expect="ok", check=expect_channels("o.wav", n)))

    # 14. DC only stays silent, as silence does
    for level in (0.5, -0.25):
        def setup(f, env, level=level):
            return _dream(f, wav(f / "in.wav", np.full((1, SR // 2), level, np.float32), "FLOAT"), env=env)
        add(Case(14, f"dc-{level:g}", setup, expect="ok", check=expect_quiet("out.wav")))
    add(Case(14, "silence", lambda f, env: _dream(f, wav(f / "in.wav", np.zeros((1, SR // 2), np.float32)), env=env),
             expect="ok", check=expect_quiet("out.wav")))

    # 16. FIFO and other non-regular inputs are refused at once
    def fifo(f, env):
        os.mkfifo(f / "in.wav")
        return _dream(f, str(f / "in.wav"), env=env)
    add(Case(16, "fifo-dream", fifo, expect="fail", process=True, timeout=60))

    def fifo_preset(f, env):
        os.mkfifo(f / "p.toml")
        return _dream(f, wav(f / "in.wav"), "--preset", f / "p.toml", env=env)
    add(Case(16, "fifo-preset", fifo_preset, expect="fail", process=True, timeout=60))
    add(Case(16, "dev-null", lambda f, env: _dream(f, "/dev/null", env=env), expect="fail"))

    # 17. smaller items
    small = [
        ("layer-99", lambda f, env: _dream(f, wav(f / "in.wav"), "--set", "layer=99", env=env), "fail", expect_in("0..7")),
        ("duration-0", lambda f, env: ["dream", "-o", f / "o.wav", "--init", "noise", "--duration", "0", "--model", env.model],
         "fail", expect_in("more than 0")),
        ("fx-unknown-param-lists", lambda f, env: _dream(f, wav(f / "in.wav"), "--preset",
                                                         preset(f, '[[fx.post]]\nplugin = "Gain"\nvolume = 3\n'), env=env),
         "fail", expect_in("gain_db")),
        ("batch-in-is-out", lambda f, env: (f / "in").mkdir() or wav(f / "in" / "a.wav") and
         ["batch", f / "in", "-o", f / "in", "--quiet", "--model", env.model, *FAST], "fail", None),
        ("atlas-maps-999", lambda f, env: ["atlas", "-o", f / "a", "--model", env.model, "--maps", "999", "--iterations", "1",
                                           "--seconds", "0.2", "--quiet"], "fail", None),
        ("target-without-mode", lambda f, env: _dream(f, wav(f / "in.wav"), "--target", wav(f / "t.wav"), env=env), "fail", None),
        ("bench-repeats-0", lambda f, env: ["bench", "--model", env.model, "--repeats", "0"], "fail", None),
        ("bench-seconds-0", lambda f, env: ["bench", "--model", env.model, "--seconds", "0"], "fail", None),
        ("bench-seconds-nan", lambda f, env: ["bench", "--model", env.model, "--seconds", "nan"], "fail", None),
        ("filename-escape", lambda f, env: ["batch", wav(f / "in.wav"), "-o", f / "o" / "p", "--filename", "../../x_{stem}.wav",
                                            "--quiet", "--model", env.model, *FAST], "fail",
         lambda f, rc, o, e: "wrote outside" if (f / "x_in.wav").exists() else None),
        ("midi-fx-missing", lambda f, env: _fx_map_case(f, env), "fail", expect_in("fx.post")),
        ("mp3-in-folder", lambda f, env: (f / "in").mkdir() or wav(f / "in" / "a.mp3", tone(1.0), "MPEG_LAYER_III", "MP3") and
         ["batch", f / "in", "-o", f / "o", "--quiet", "--model", env.model, *FAST], "ok", expect_files("o/a_default.mp3")),
        ("permission-denied", lambda f, env: _unreadable(f, env), "fail", expect_in("ermission")),
        ("plot-overwrite-refused", lambda f, env: (f / "p.png").write_bytes(b"png") and
         _dream(f, wav(f / "in.wav"), "--plot", f / "p.png", env=env), "fail", None),
    ]
    for name, setup, expect, check in small:
        add(Case(17, name, setup, expect=expect, check=check))
    return cases


def _unreadable(f: Path, env: Env):
    src = wav(f / "in.wav")
    os.chmod(src, 0)
    if os.access(src, os.R_OK):  # root reads anything: fall back on a folder where a file is expected
        os.chmod(src, 0o644)
        (f / "dir.wav").mkdir()
        return _dream(f, str(f / "dir.wav"), env=env)
    return _dream(f, src, env=env)


def _fx_map_case(f: Path, env: Env):
    p = preset(f, '[[fx.post]]\nplugin = "Gain"\ngain_db = 0\n')
    mp = midimap(f, '[[cc]]\ncc = 20\nparam = "fx.post.3.gain_db"\nrange = [-6.0, 6.0]\n')
    return ["live", "--model", env.model, "--preset", p, "--midi-map", mp, "--duration", "0.1"]


def _stems_batch(f: Path, env: Env):
    (f / "in").mkdir()
    for i in range(2):
        wav(f / "in" / f"s{i}.wav", tone(1.5, seed=i))
    return ["batch", f / "in", "--quiet", "--model", env.model, "--set", "iterations=6", "--set", "excerpt_seconds=0.5"]


def _two_batches(f: Path, env: Env, argv):
    exe = [sys.executable, "-m", "dreambridge.bridge.cli"]
    first = subprocess.Popen(exe + argv + ["-o", str(f / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None and not list((f / "out").glob(".*.part*")):
        time.sleep(0.01)
    # the first is paused while the second tries: a batch of small files can finish faster than a process starts
    os.kill(first.pid, signal.SIGSTOP)
    try:
        rc, out, err, _ = run_cli(argv + ["-o", str(f / "out"), "--overwrite"], False, 120)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, first_err = first.communicate(timeout=300)
    return rc, out + f"first rc={first.returncode} {first_err[-200:]}", err


def _jobs_resume(f: Path, env: Env, argv):
    one = run_cli(argv + ["-o", str(f / "one")], False, 300)
    two = run_cli(argv + ["-o", str(f / "two"), "--jobs", "2"], False, 300)
    again = run_cli(argv + ["-o", str(f / "one"), "--jobs", "2", "--resume"], False, 300)
    same = all((f / "one" / n).read_bytes() == (f / "two" / n).read_bytes() for n in ("s0_default.wav", "s1_default.wav"))
    rc = max(one[0], two[0], again[0])
    return rc, ("identical" if same else "the resumed outputs differ from a clean --jobs 2 run"), one[2] + two[2] + again[2]


def _moved_resume(f: Path, env: Env, argv):
    import shutil

    first = run_cli(argv + ["-o", str(f / "out"), "--json"], False, 300)
    shutil.move(str(f / "out"), str(f / "moved"))
    good = (f / "moved" / "s1_default.wav").read_bytes()
    moved = run_cli(argv + ["-o", str(f / "moved"), "--json", "--resume"], False, 300)
    (f / "moved" / "s1_default.wav").write_bytes(good[: len(good) // 2])
    damaged = run_cli(argv + ["-o", str(f / "moved"), "--json", "--resume"], False, 300)
    try:
        skipped = len(json.loads(moved[1])["skipped"])
        redone = len(json.loads(damaged[1])["ok"])
    except ValueError:
        return 1, "no JSON summary", moved[2] + damaged[2]
    same = (f / "moved" / "s1_default.wav").read_bytes() == good
    rc = max(first[0], moved[0], damaged[0])
    return rc, f"skipped={skipped} redone={redone} {'identical' if same else 'different'}", moved[2] + damaged[2]


def _signal_case(f: Path, env: Env):
    """``dream`` on a 6 s input, long enough to be signalled while its ``.part`` file exists."""
    return _dream(f, wav(f / "in.wav", tone(6.0)), env=env)[:-6] + ["--set", "iterations=30"]


# -- helpers of the robustness tests (the test files import them) ------------------------------
def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def part_files(folder: Path) -> list:
    return [p for p in Path(folder).rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]


def start_cli(args, **kw):
    exe = shutil.which("dreambridge")
    cmd = [exe, *map(str, args)] if exe else [sys.executable, "-m", "dreambridge.bridge.cli", *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(pattern_folder: Path, pattern: str, proc, timeout=120.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if list(pattern_folder.rglob(pattern)):
            return True
        time.sleep(0.02)
    return False


CASES = _cases()


def run_all(root: Path, groups=None, names=None, log=None) -> list[Outcome]:
    env = Env(root)
    outcomes = []
    for case in CASES:
        if (groups and case.group not in groups) or (names and case.name not in names):
            continue
        outcomes.append(run_case(case, env, root))
        if log:
            o = outcomes[-1]
            log(f"{'ok ' if o.clean else 'BAD'} g{o.group:02d} {o.name:32s} rc={o.rc} {o.seconds:5.1f}s "
                f"{'; '.join(o.wrong + o.inputs_modified + o.partial_files)[:160]}")
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict:
    return {
        "cases": len(outcomes),
        "groups": len({o.group for o in outcomes}),
        "tracebacks": sum(o.traceback for o in outcomes),
        "inputs_modified": sum(bool(o.inputs_modified) for o in outcomes),
        "partial_files": sum(bool(o.partial_files) for o in outcomes),
        "wrong_outputs": sum(bool(o.wrong) for o in outcomes),
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, nargs="*", default=None)
    parser.add_argument("--name", nargs="*", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(Path(tmp), args.group, args.name, log=None if args.json else print)
    totals = summarise(results)
    if args.json:
        print(json.dumps({"totals": totals, "cases": [o.__dict__ for o in results]}, indent=1, default=str))
    else:
        print(json.dumps(totals))
    sys.exit(0 if all(o.clean for o in results) else 1)
