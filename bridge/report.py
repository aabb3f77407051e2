"""``dreambridge report``: the measured tables of the README, one command each.

``artefacts``: for every layer of a model, dream ``n_maps`` feature maps from white noise
with the plain loop (the papers': no DC blocker, offsets of +-1 sample) and with the
shipped engine (20 Hz DC blocker in the loop, grid jitter), and measure DC share, comb
share at the layer's stride grid (beside its chance level), in-band flatness and the
spread of spectral centroids across the maps.
"""

from __future__ import annotations

import numpy as np

from dreambridge.dsp import artefacts
from dreambridge.dsp.features import spectral_centroid, spectral_flatness
from dreambridge.presets import DreamParams

from .analysis import INBAND_HZ, stride_grids

__all__ = ["artefact_report", "format_artefact_report"]

PLAIN = {"highpass_hz": 0.0, "jitter": "fixed", "max_offset_samples": 1}
SHIPPED = {"highpass_hz": 20.0, "jitter": "grid", "max_offset_samples": 1}


def artefact_report(dreamer, n_maps: int = 6, iterations: int = 100, seconds: float = 2.0, seed: int = 0,
                    layers=None, progress=None) -> dict:
    rate = dreamer.sample_rate
    grids = stride_grids({"architecture": {"layers": [{"stride": s} for s in dreamer.layer_strides]}}, rate)
    base = DreamParams(init="noise", iterations=iterations, learning_rate=0.01, grad_norm="mean", lowpass_hz=12000.0,
                       excerpt_seconds=seconds, crossfade_seconds=0.0, seed=seed)
    rng = np.random.default_rng(seed)
    silence = np.zeros((1, int(round(seconds * rate))), np.float32)
    rows = []
    for layer in layers if layers is not None else range(len(dreamer.layer_channels)):
        maps = sorted(rng.choice(dreamer.layer_channels[layer], min(n_maps, dreamer.layer_channels[layer]), replace=False))
        row = {"layer": layer, "maps": [int(m) for m in maps], "grid_hz": grids[layer], "comb_chance": artefacts.comb_chance(grids[layer])}
        for name, changes in (("plain", PLAIN), ("shipped", SHIPPED)):
            measures = []
            for channel in maps:
                dreamer.set_params(base.replace(layer=layer, channel=int(channel), **changes))
                y = dreamer.process(silence, rate)[0]
                measures.append((artefacts.dc_share(y, rate), artefacts.comb_share(y, rate, grids[layer]),
                                 float(np.mean(spectral_flatness(y, rate, band_hz=INBAND_HZ))),
                                 float(np.mean(spectral_centroid(y, rate)))))
                if progress:
                    progress()
            m = np.array(measures)
            row[name] = {"dc_share_max": float(m[:, 0].max()), "comb_share_mean": float(m[:, 1].mean()),
                         "inband_flatness_mean": float(m[:, 2].mean()),
                         "centroid_spread_octaves": artefacts.centroid_spread_octaves(m[:, 3])}
        rows.append(row)
    return {"model": dreamer.card.get("name", ""), "n_maps": n_maps, "iterations": iterations, "seconds": seconds,
            "learning_rate": 0.01, "grad_norm": "mean", "lowpass_hz": 12000.0, "layers": rows}


def format_artefact_report(report: dict) -> str:
    lines = [
        f"model {report['model']}: {report['n_maps']} maps per layer dreamed from white noise, {report['iterations']} iterations, "
        f"{report['seconds']:g} s, lr {report['learning_rate']}, gradient / mean|g|, 12 kHz low-pass; plain loop -> shipped engine",
        "",
        "| layer | grid | DC share (max) | comb share (chance) | in-band flatness | centroid spread |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["layers"]:
        p, s = r["plain"], r["shipped"]
        lines.append(
            f"| {r['layer']} | {r['grid_hz']:.0f} Hz | {100 * p['dc_share_max']:.1f} % -> {100 * s['dc_share_max']:.2f} % "
            f"| {100 * p['comb_share_mean']:.1f} % -> {100 * s['comb_share_mean']:.1f} % ({100 * r['comb_chance']:.1f} %) "
            f"| {p['inband_flatness_mean']:.3f} -> {s['inband_flatness_mean']:.3f} "
            f"| {p['centroid_spread_octaves']:.2f} -> {s['centroid_spread_octaves']:.2f} oct |"
        )
    return "\n".join(lines)
