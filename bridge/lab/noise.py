"""``dreambridge report noise``: do dreams from noise converge, and do they join cleanly?

Issue 15's target 3, measured at the atlas's settings (``atlas.atlas_params``) beside the
paper's (``atlas.paper_params``, the control):

- **pitched layer 0**: every one of ``n_maps`` layer-0 maps dreamed from white noise (one
  excerpt, as the atlas does) has an in-band flatness (40 Hz-8 kHz) of at most
  ``TARGETS["flatness_max"]``, and their spectral centroids span at least
  ``TARGETS["centroid_octaves"]`` octaves;
- **no pulse at the excerpt hop**: a dream from noise longer than one excerpt (the engine's
  1 s excerpts, 0.1 s crossfades) has an envelope autocorrelation at the hop
  (``dsp.measures.hop_pulsing``) of at most ``TARGETS["pulsing_max"]``;
- **no crossfade clicks**: the loudest 5 ms in its crossfades stands at most
  ``TARGETS["click_db_max"]`` over the median level of the parts heard alone
  (``dsp.measures.crossfade_click_db``);
- **no slower**: CPU seconds per layer-0 map against the paper's settings (the atlas until
  issue 15: 200 iterations at lr 0.01) in the same run.
"""

from __future__ import annotations

import time

import numpy as np

from dreambridge.bridge.lab.analysis import INBAND_HZ, dream_map
from dreambridge.bridge.lab.atlas import ATLAS_ITERATIONS, PAPER_ITERATIONS, atlas_params, paper_params
from dreambridge.dsp import artefacts, measures
from dreambridge.dsp.features import feature_summary

__all__ = ["noise_report", "format_noise_report", "TARGETS", "PULSE_LAYERS", "PULSE_MAPS", "EXCERPT_SECONDS",
           "CROSSFADE_SECONDS"]

TARGETS = {"flatness_max": 0.05, "centroid_octaves": 3.0, "pulsing_max": 0.2, "click_db_max": 6.0}
PULSE_LAYERS = (2, 4, 6)  # deep layers: their dreams from noise are the steadiest, so a pulse shows most
PULSE_MAPS = (0, 5)
EXCERPT_SECONDS, CROSSFADE_SECONDS = 1.0, 0.1  # the engine's defaults: a hop of 0.9 s
N_HOPS = 6  # excerpts per long dream: 5 crossfades, 5 hop lags of the envelope


def _pitch(dreamer, base, n_maps: int, progress) -> dict:
    rate = dreamer.sample_rate
    rows, start = [], time.process_time()  # CPU time: a shared machine's load does not move it as it moves the wall
    for channel in range(min(n_maps, dreamer.layer_channels[0])):
        f = feature_summary(dream_map(dreamer, base.replace(layer=0, channel=channel)), rate, band_hz=INBAND_HZ)
        rows.append({"channel": channel, "flatness": f["flatness_inband_mean"], "centroid_hz": f["centroid_hz_mean"]})
        if progress:
            progress()
    flat = np.array([r["flatness"] for r in rows])
    return {"maps": rows, "seconds_per_map": (time.process_time() - start) / max(len(rows), 1),
            "flatness_max": float(flat.max()), "flatness_median": float(np.median(flat)),
            "n_pitched": int(np.sum(flat <= TARGETS["flatness_max"])),
            "centroid_octaves": artefacts.centroid_spread_octaves([r["centroid_hz"] for r in rows])}


def _joins(dreamer, base, layers, maps, excerpt_seconds: float, progress) -> dict:
    rate = dreamer.sample_rate
    fade_seconds = excerpt_seconds * CROSSFADE_SECONDS / EXCERPT_SECONDS
    n_excerpt, n_fade = int(round(excerpt_seconds * rate)), int(round(fade_seconds * rate))
    params = base.replace(excerpt_seconds=excerpt_seconds, crossfade_seconds=fade_seconds)
    rows = []
    for layer in [la for la in layers if la < len(dreamer.layer_channels)]:
        for channel in [m for m in maps if m < dreamer.layer_channels[layer]]:
            dreamer.set_params(params.replace(layer=layer, channel=channel))
            y = dreamer.process(np.zeros((1, N_HOPS * (n_excerpt - n_fade) + n_fade), np.float32), rate)[0]
            rows.append({"layer": layer, "channel": channel,
                         "pulsing": measures.hop_pulsing(y, rate, n_excerpt - n_fade),
                         "click_db": measures.crossfade_click_db(y, rate, n_excerpt, n_fade)})
            if progress:
                progress()
    return {"maps": rows, "pulsing_max": max((r["pulsing"] for r in rows), default=float("nan")),
            "click_db_max": max((r["click_db"] for r in rows), default=float("nan"))}


def noise_report(dreamer, n_maps: int = 32, iterations: int = ATLAS_ITERATIONS, seconds: float = 2.0, seed: int = 0,
                 layers=PULSE_LAYERS, maps=PULSE_MAPS, control: bool = True, excerpt_seconds: float = EXCERPT_SECONDS,
                 paper_iterations: int = PAPER_ITERATIONS, progress=None) -> dict:
    """Measure target 3 at the atlas's settings (``iterations``) and (``control``) at the
    paper's (``paper_iterations``: the atlas until issue 15):
    layer-0 maps ``0..n_maps-1`` dreamed from noise over ``seconds``, and
    ``maps`` of ``layers`` dreamed ``N_HOPS`` excerpts of ``excerpt_seconds`` long (the
    crossfade a tenth of that) for pulsing and clicks."""
    rate = dreamer.sample_rate
    settings = {"atlas": atlas_params(iterations, seconds, seed, rate)}
    if control:
        settings["paper"] = paper_params(paper_iterations, seconds, seed, rate)
    out = {"model": dreamer.card.get("name", ""), "n_maps": n_maps, "iterations": iterations, "seconds": seconds,
           "excerpt_seconds": excerpt_seconds, "targets": TARGETS, "settings": {}}
    for name, base in settings.items():
        row = {"iterations": base.iterations, "learning_rate": base.learning_rate, "envelope_lock": base.envelope_lock}
        row["pitch"] = _pitch(dreamer, base, n_maps, progress)
        row["joins"] = _joins(dreamer, base, layers, maps, excerpt_seconds, progress)
        p, j = row["pitch"], row["joins"]
        row["met"] = {"pitched": p["flatness_max"] <= TARGETS["flatness_max"],
                      "centroid_spread": p["centroid_octaves"] >= TARGETS["centroid_octaves"],
                      "no_pulsing": bool(j["pulsing_max"] <= TARGETS["pulsing_max"]),
                      "no_clicks": bool(j["click_db_max"] <= TARGETS["click_db_max"])}
        out["settings"][name] = row
    if control:
        out["time_ratio"] = (out["settings"]["atlas"]["pitch"]["seconds_per_map"]
                             / out["settings"]["paper"]["pitch"]["seconds_per_map"])
    return out


def format_noise_report(report: dict) -> str:
    t = report["targets"]
    lines = [
        f"model {report['model']}: {report['n_maps']} layer-0 maps dreamed from white noise, {report['seconds']:g} s; "
        f"long dreams: {N_HOPS} excerpts of {report['excerpt_seconds']:g} s, "
        "crossfades a tenth of that",
        "",
        f"| settings | iterations | lr | lock | layer-0 flatness max / median (<= {t['flatness_max']}) | maps pitched "
        f"| centroid spread (>= {t['centroid_octaves']:g} oct) | hop pulsing max (<= {t['pulsing_max']}) "
        f"| crossfade click max (<= {t['click_db_max']:g} dB) | CPU s per map |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["settings"].items():
        p, j = r["pitch"], r["joins"]
        lines.append(
            f"| {name} | {r['iterations']} | {r['learning_rate']:g} | {r['envelope_lock']:g} "
            f"| {p['flatness_max']:.3f} / "
            f"{p['flatness_median']:.3f} | {p['n_pitched']}/{len(p['maps'])} | {p['centroid_octaves']:.2f} oct "
            f"| {j['pulsing_max']:+.2f} | {j['click_db_max']:+.1f} dB | {p['seconds_per_map']:.2f} |"
        )
    lines.append("")
    for name, r in report["settings"].items():
        missed = [k for k, ok in r["met"].items() if not ok]
        lines.append(f"{name}: {len(r['met']) - len(missed)}/{len(r['met'])} targets met"
                     + (f" ({', '.join(missed)} missed)" if missed else ""))
        lines.append("  per long dream (layer:map pulsing / click dB): " + ", ".join(
            f"{m['layer']}:{m['channel']} {m['pulsing']:+.2f} / {m['click_db']:+.1f}" for m in r["joins"]["maps"]))
    if "time_ratio" in report:
        lines.append(f"time per layer-0 map, atlas / paper settings: {report['time_ratio']:.2f}x "
                     "(CPU time, same run)")
    return "\n".join(lines)
