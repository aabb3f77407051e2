"""``dreambridge report table11``: Bisig & Wegner's Experiment 2 (Table 11), measured.

Each run dreams ``6 * step_seconds`` (120 s) from white noise with the round-robin
generator and the ``bisig-exp2`` settings, changes one parameter to Table 11's five values
at 1, 2, 3, 4 and 5 steps (20, 40, 60, 80, 100 s), and the layer/map at the half steps
(10, 30, 50, 70 s: 1:3, 3:4, 7:8, 0:3, as ``bisig-exp2-sequence``). The control run keeps
every parameter fixed and changes only the layers and maps (the paper's bold black line),
so each value's effect is its step's mean minus the control's mean over the same window.

Measures per step (the whole window, both layer settings): mean loudness (RMS),
brightness (spectral centroid, Hz), noisiness (spectral flatness in 40 Hz .. min(8 kHz,
the cutoff): beyond the low-pass, flatness measures only the filter) and roughness
(spectral flux), as ``dsp.features`` defines them.

The cutoff run's loudness (``cutoff_loudness``), on several seeds: the RMS over the last
``tail_seconds`` of each step (one layer setting, the half step's), raw and divided by the
control's over the same window. Inside one run the raw values follow the layer sequence and
how long layer 0 map 3 has been dreamed, not the cutoff (README, "Loudness and the cutoff"),
so the paper's finding is read against the control, as its figures 10-13 do.
"""

from __future__ import annotations

import numpy as np

from dreambridge.dsp.features import rms, spectral_centroid, spectral_flatness, spectral_flux
from dreambridge.presets import ParameterError, load_preset

from dreambridge.bridge.engine.schedule import SequenceSchedule

__all__ = ["TABLE11", "PAPER_FINDINGS", "LAYER_STEPS", "table11_schedule", "cutoff_run_schedule", "step_features",
           "table11_report", "format_table11", "cutoff_loudness", "format_cutoff_loudness"]

TABLE11 = {
    "max_offset_samples": [1, 16, 64, 128, 512],
    "iterations": [1, 2, 4, 7, 10],
    "smoothing_coef": [0.1, 0.3, 0.5, 0.7, 0.9],
    "smoothing_kernel": [3, 5, 9, 13, 17],
    "learning_rate": [0.02, 0.04, 0.08, 0.12, 0.16],
    "lowpass_hz": [2000.0, 4000.0, 8000.0, 12000.0, 16000.0],
}
PAPER_FINDINGS = {
    "max_offset_samples": "brightness and noisiness increase significantly for high offsets",
    "iterations": "small: sets how fast features change after a switch; slightly rougher",
    "smoothing_coef": "no acoustic effect",
    "smoothing_kernel": "no acoustic effect",
    "learning_rate": "small: a large rate slightly raises noisiness, brightness, roughness",
    "lowpass_hz": "brightness follows the cutoff; loudness lower at low cutoffs; noisiness, roughness rise slightly",
}
# (step fraction, layer, map): Table 11's layers 0, 1, 3, 8 and maps 3, 3, 4, 8 (Model2's deepest is 7)
LAYER_STEPS = [(0.5, 1, 3), (1.5, 3, 4), (2.5, 7, 8), (3.5, 0, 3)]
INBAND_LOW_HZ = 40.0
INBAND_HIGH_HZ = 8000.0


def table11_schedule(param: str | None = None, step_seconds: float = 20.0, preset: str = "bisig-exp2",
                     steps=(), **changes) -> SequenceSchedule:
    """The schedule of one run: ``param`` through Table 11's values (``None``: the control), plus
    any other ``(seconds, changes)`` ``steps``."""
    base = load_preset(preset).params.replace(init="noise", layer=0, channel=3, **changes)
    steps = list(steps) + [(f * step_seconds, {"layer": layer, "channel": channel})
                           for f, layer, channel in LAYER_STEPS]
    if param is not None:
        steps += [((i + 1) * step_seconds, {param: value}) for i, value in enumerate(TABLE11[param])]
    steps.sort(key=lambda s: s[0])
    return SequenceSchedule(base, steps)


def cutoff_run_schedule(cutoffs_hz, step_seconds: float = 20.0, seed: int = 0) -> SequenceSchedule:
    """The cutoff run (``bisig-exp2-sequence``) with the low-pass at ``cutoffs_hz[i]`` from step
    ``i + 1``: Table 11's order ``[2000, 4000, 8000, 12000, 16000]``, the reversed order, or one
    cutoff held (``[2000] * 5``) as controls; the layer/map changes stay at the half steps."""
    steps = [((i + 1) * step_seconds, {"lowpass_hz": float(c)}) for i, c in enumerate(cutoffs_hz)]
    return table11_schedule(None, step_seconds, "bisig-exp2-sequence", steps=steps, seed=seed)


def step_features(audio: np.ndarray, sample_rate: int, first_s: float, stop_s: float, lowpass_hz: float) -> dict:
    """Mean loudness, brightness, noisiness and roughness of mono ``audio`` in ``[first_s, stop_s)``."""
    x = audio[int(first_s * sample_rate) : int(stop_s * sample_rate)]
    top = min(INBAND_HIGH_HZ, lowpass_hz) if lowpass_hz > 0 else INBAND_HIGH_HZ
    return {"loudness": float(np.mean(rms(x))), "brightness_hz": float(np.mean(spectral_centroid(x, sample_rate))),
            "noisiness": float(np.mean(spectral_flatness(x, sample_rate, band_hz=(INBAND_LOW_HZ, top)))),
            "roughness": float(np.mean(spectral_flux(x, sample_rate)))}


def _render(dreamer, schedule, step_seconds: float, sample_rate: int) -> np.ndarray:
    """One run of six steps from noise, mono."""
    dreamer.set_schedule(schedule)
    n_total = int(round(6 * step_seconds * sample_rate))
    return dreamer.process(np.zeros((1, n_total), np.float32), sample_rate)[0]


def _run(dreamer, schedule, step_seconds: float, sample_rate: int) -> list[dict]:
    audio = _render(dreamer, schedule, step_seconds, sample_rate)
    rows = []
    for i in range(1, 6):
        params = schedule.at(i * step_seconds)
        rows.append(step_features(audio, sample_rate, i * step_seconds, (i + 1) * step_seconds, params.lowpass_hz))
    return rows


def table11_report(dreamer, params=None, step_seconds: float = 20.0, seed: int = 0, progress=None) -> dict:
    """Every run of Table 11 (``params``: names, default all) and the control, measured per step."""
    rate = max(dreamer.sample_rate, 44100)
    names = list(params or TABLE11)
    out = {"model": dreamer.card.get("name", ""), "step_seconds": step_seconds, "seed": seed, "runs": {}}
    out["control"] = _run(dreamer, table11_schedule(None, step_seconds, seed=seed), step_seconds, rate)
    if progress:
        progress()
    for name in names:
        rows = _run(dreamer, table11_schedule(name, step_seconds, seed=seed), step_seconds, rate)
        for value, row in zip(TABLE11[name], rows):
            row["value"] = value
        out["runs"][name] = rows
        if progress:
            progress()
    return out


def format_table11(report: dict) -> str:
    """Markdown: per run and step, the four means beside the control's, and the paper's finding."""
    lines = [
        f"model {report['model']}: from white noise, round robin (bisig-exp2), {report['step_seconds']:g} s per step; "
        "each cell: run (control: layers only, same window)",
        "",
        "| parameter | value | loudness (RMS) | brightness (Hz) | noisiness (flatness) | roughness (flux) | paper |",
        "|---|---|---|---|---|---|---|",
    ]
    control = report["control"]
    for name, rows in report["runs"].items():
        for i, (row, ref) in enumerate(zip(rows, control)):
            lines.append(
                f"| {name if i == 0 else ''} | {row['value']:g} | {row['loudness']:.3f} ({ref['loudness']:.3f}) "
                f"| {row['brightness_hz']:.0f} ({ref['brightness_hz']:.0f}) "
                f"| {row['noisiness']:.3f} ({ref['noisiness']:.3f}) "
                f"| {row['roughness']:.4f} ({ref['roughness']:.4f}) | {PAPER_FINDINGS[name] if i == 0 else ''} |"
            )
    return "\n".join(lines)


def _tail_loudness(audio: np.ndarray, sample_rate: int, step_seconds: float, tail_seconds: float) -> list[float]:
    """Mean loudness (RMS) of the last ``tail_seconds`` of steps 1..5."""
    return [float(np.mean(rms(audio[int(((i + 1) * step_seconds - tail_seconds) * sample_rate):
                                     int((i + 1) * step_seconds * sample_rate)])))
            for i in range(1, 6)]


def cutoff_loudness(dreamer, seeds=(0, 1, 2), step_seconds: float = 20.0, tail_seconds: float = 10.0,
                    progress=None) -> dict:
    """The cutoff run (Table 11's 2-4-8-12-16 kHz, as ``bisig-exp2-sequence``) and its control
    (layers only, 12 kHz throughout) per seed: loudness over the last ``tail_seconds`` of each
    step, raw (``run``, ``control``) and against the control (``ratio``), plus whether the
    2 kHz step is quieter than the 16 kHz step, raw (``raw_holds``) and against the control
    (``ratio_holds``)."""
    if not 0 < tail_seconds <= step_seconds:
        raise ParameterError(f"tail_seconds={tail_seconds:g} is outside 0..step_seconds ({step_seconds:g} s); "
                             "measure at most one step")
    rate = max(dreamer.sample_rate, 44100)
    rows = []
    for seed in seeds:
        run, control = (_tail_loudness(_render(dreamer, table11_schedule(param, step_seconds, seed=seed), step_seconds,
                                               rate), rate, step_seconds, tail_seconds)
                        for param in ("lowpass_hz", None))
        ratio = [a / max(b, 1e-12) for a, b in zip(run, control)]
        rows.append({"seed": int(seed), "run": run, "control": control, "ratio": ratio,
                     "raw_holds": run[0] < run[-1], "ratio_holds": ratio[0] < ratio[-1]})
        if progress:
            progress()
    return {"model": dreamer.card.get("name", ""), "step_seconds": step_seconds, "tail_seconds": tail_seconds,
            "cutoffs_hz": TABLE11["lowpass_hz"], "rows": rows}


def format_cutoff_loudness(report: dict) -> str:
    """Markdown: per seed and step, the cutoff run's loudness, the control's, and their ratio."""
    cutoffs = " | ".join(f"{c / 1000:g} kHz" for c in report["cutoffs_hz"])
    lines = [
        f"model {report['model']}: the cutoff run's loudness (RMS) over the last {report['tail_seconds']:g} s of each "
        f"{report['step_seconds']:g} s step; run / control (layers only, 12 kHz) / ratio",
        "",
        f"| seed | | {cutoffs} | 2 kHz step quieter than 16 kHz |",
        "|---|---|" + "---|" * len(report["cutoffs_hz"]) + "---|",
    ]
    for row in report["rows"]:
        for key, label, verdict in (("run", "raw", row["raw_holds"]), ("control", "control", None),
                                    ("ratio", "run / control", row["ratio_holds"])):
            cells = " | ".join(f"{v:.3f}" for v in row[key])
            mark = "" if verdict is None else ("yes" if verdict else "no")
            lines.append(f"| {row['seed'] if key == 'run' else ''} | {label} | {cells} | {mark} |")
    return "\n".join(lines)
