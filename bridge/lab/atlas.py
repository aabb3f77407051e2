"""``dreambridge atlas`` (Bisig Experiment 1) and ``dreambridge sweep`` (Experiment 2).

The atlas dreams every chosen layer x feature map from the same white noise, analyses
each result (the four Bisig features, in-band flatness, DC and comb shares), and writes a
static page that opens from disk with no network: per-layer mean +/- std plots of the
four features (the paper's Figures 2-9), a grid of audio players with a spectrogram
thumbnail per map, sortable by every measure, and each map's parameters ready to paste
into a preset. ``atlas.json`` holds every number. Maps already done are skipped
(resumable).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from dreambridge.bridge.lab.analysis import INBAND_HZ, dream_map, stride_grids
from dreambridge.dsp import artefacts
from dreambridge.dsp.features import feature_summary
from dreambridge.presets import DreamParams, schema
from dreambridge.presets.fileutil import atomic_write_text

__all__ = ["atlas_params", "paper_params", "ATLAS_ITERATIONS", "ATLAS_LEARNING_RATE", "ATLAS_ENVELOPE_LOCK",
           "PAPER_ITERATIONS", "run_atlas", "write_page", "run_sweep", "SWEEPABLE", "FEATURES"]

FEATURES = [("rms_mean", "loudness (RMS)"), ("centroid_hz_mean", "brightness (centroid, Hz)"),
            ("flatness_inband_mean", "noisiness (flatness 40 Hz-8 kHz)"), ("flux_mean", "roughness (flux)")]
SWEEPABLE = {name: schema.FIELDS[name].type for name in schema.sweepable()}  # name -> type, from the schema


ATLAS_ITERATIONS = 140  # the lock's 3 extra rFFTs per step cost 1.4x at layer 0: 140 steps take the paper's 200's time
ATLAS_LEARNING_RATE = 0.14  # 14x the paper's step: converged within those 140 iterations (README, tuning log)
ATLAS_ENVELOPE_LOCK = 1.0  # the noise's own flat contour: no map collapses into bursts at that step
PAPER_ITERATIONS = 200  # the atlas's iterations until issue 15 (the paper ran 2000)

_PRESET_KEYS = (
    "init",
    "layer",
    "channel",
    "iterations",
    "learning_rate",
    "envelope_lock",
    "max_offset_samples",
    "jitter",
    "smoothing_coef",
    "smoothing_kernel",
    "lowpass_hz",
    "excerpt_seconds",
    "seed",
)


def paper_params(iterations: int, seconds: float, seed: int, sample_rate: int = 44100) -> DreamParams:
    """Experiment 1's settings (white noise, offset 1, smoothing 0.5 / 9, lr 0.01, 12 kHz
    low-pass, or 0.45 x the rate for a model below 26.7 kHz such as CREPE's 16 kHz) on the
    shipped engine (DC blocker, grid jitter). The paper needed 2000 iterations; at 200 a
    layer-0 map is still noise. Sweeps, the findings and the variety report keep them."""
    return DreamParams(init="noise", iterations=iterations, learning_rate=0.01, max_offset_samples=1,
                       smoothing_coef=0.5, smoothing_kernel=9, lowpass_hz=min(12000.0, 0.45 * sample_rate),
                       excerpt_seconds=seconds, crossfade_seconds=0.0, seed=seed)


def atlas_params(iterations: int, seconds: float, seed: int, sample_rate: int = 44100) -> DreamParams:
    """The atlas's settings: the paper's, with a step that converges within
    ``ATLAS_ITERATIONS`` (issue 15, target 3): ``learning_rate`` ``ATLAS_LEARNING_RATE`` and
    the envelope lock, which keeps the starting noise's flat 23 ms contour after every step,
    so a map cannot gather its energy into a few bursts (without it, 10x the step leaves a
    third of the layer-0 maps as click trains) and has to become a steady sound."""
    return paper_params(iterations, seconds, seed, sample_rate).replace(
        learning_rate=ATLAS_LEARNING_RATE, envelope_lock=ATLAS_ENVELOPE_LOCK)


def _measure(y: np.ndarray, rate: int, grid_hz: float) -> dict:
    out = feature_summary(y, rate, band_hz=INBAND_HZ)
    out["dc_share"] = artefacts.dc_share(y, rate)
    out["comb_share"] = artefacts.comb_share(y, rate, grid_hz)
    out["comb_chance"] = artefacts.comb_chance(grid_hz)
    return out


def _thumbnail(y: np.ndarray, rate: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.4, 1.3), dpi=80)
    ax.specgram(y, NFFT=1024, Fs=rate, noverlap=512, cmap="magma", vmin=-120)
    ax.set_ylim(0, 16000)
    ax.axis("off")
    fig.subplots_adjust(0, 0, 1, 1)
    fig.savefig(path)
    plt.close(fig)


def _render_map(dreamer, base, layer: int, channel: int, grid_hz: float) -> tuple[dict, np.ndarray]:
    """Dream one map: its numbers (everything but the files) and its audio ``(n_samples,)``."""
    rate = dreamer.sample_rate
    key = f"L{layer}_M{channel}"
    params = base.replace(layer=layer, channel=channel)
    y = dream_map(dreamer, params)
    entry = {"key": key, "layer": layer, "channel": channel, "audio": f"audio/{key}.wav", "image": f"img/{key}.png",
             "params": {k: getattr(params, k) for k in _PRESET_KEYS}}
    entry.update(_measure(y, rate, grid_hz))
    return entry, y


def _write_map(out_dir: Path, entry: dict, y: np.ndarray, rate: int) -> None:
    """Write a dreamed map's audio, thumbnail and numbers (the json last: then it is done)."""
    import soundfile as sf

    sf.write(str(out_dir / entry["audio"]), y, rate, subtype="PCM_16")
    _thumbnail(y, rate, out_dir / entry["image"])
    atomic_write_text(out_dir / "maps" / f"{entry['key']}.json", json.dumps(entry))


def _dream_map(dreamer, out_dir: Path, base, layer: int, channel: int, grid_hz: float) -> dict:
    """Dream one map and write its files."""
    entry, y = _render_map(dreamer, base, layer, channel, grid_hz)
    _write_map(out_dir, entry, y, dreamer.sample_rate)
    return entry


_WORKER = {}


def _worker_init(model_spec, device: str):
    from dreambridge.bridge.engine.dreamer import Dreamer

    _WORKER["dreamer"] = Dreamer(model_spec, DreamParams(), device=device)


def _worker_map(args):
    out_dir, base, layer, channel, grid_hz = args
    return _dream_map(_WORKER["dreamer"], Path(out_dir), base, layer, channel, grid_hz)


def run_atlas(dreamer, out_dir, layers=None, maps=None, iterations: int = ATLAS_ITERATIONS, seconds: float = 2.0,
              seed: int = 0, progress=None, jobs: int = 1, model_spec=None, executor=None,
              settings=atlas_params) -> dict:
    """Dream the maps at ``settings(iterations, seconds, seed, rate)`` (``atlas_params``,
    or ``paper_params`` for the paper's own step); with ``jobs > 1`` (and ``model_spec``, a picklable model name,
    directory or ``(net, card)``), in that many processes. ``executor(model_spec, device,
    work)``, when given (a Ray cluster), renders ``work``, a list of ``(base, layer,
    channel, grid_hz)``, elsewhere and yields ``(index into work, entry, audio)``
    as maps finish; this process writes the files."""
    out_dir = Path(out_dir)
    for sub in ("audio", "img", "maps"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    rate = dreamer.sample_rate
    grids = stride_grids({"architecture": {"layers": [{"stride": s} for s in dreamer.layer_strides]}}, rate)
    base = settings(iterations, seconds, seed, rate)
    layers = list(range(len(dreamer.layer_channels))) if layers is None else list(layers)
    todo = [
        (l, m)
        for l in layers
        for m in (
            range(dreamer.layer_channels[l]) if maps is None else [m for m in maps if m < dreamer.layer_channels[l]]
        )
    ]
    entries, pending = [], []
    for layer, channel in todo:
        meta_path = out_dir / "maps" / f"L{layer}_M{channel}.json"
        if meta_path.is_file():
            entries.append(json.loads(meta_path.read_text()))
            if progress:
                progress()
        else:
            pending.append((layer, channel))
    if executor is not None and pending:
        work = [(base, l, c, grids[l]) for l, c in pending]
        done = {}
        for index, entry, y in executor(model_spec, dreamer.device_type, work):
            _write_map(out_dir, entry, y, rate)
            done[index] = entry
            if progress:
                progress()
        entries += [done[i] for i in range(len(work))]  # in the order a local run lists them
    elif jobs > 1 and len(pending) > 1 and model_spec is not None:
        from dreambridge.bridge.engine.pool import process_pool

        work = [(str(out_dir), base, l, c, grids[l]) for l, c in pending]
        with process_pool(jobs, _worker_init, (model_spec, dreamer.device_type)) as pool:
            for entry in pool.map(_worker_map, work):
                entries.append(entry)
                if progress:
                    progress()
    else:
        for layer, channel in pending:
            entries.append(_dream_map(dreamer, out_dir, base, layer, channel, grids[layer]))
            if progress:
                progress()
    summary = {}
    for layer in layers:
        rows = [e for e in entries if e["layer"] == layer]
        if rows:
            summary[str(layer)] = {
                f: {"mean": float(np.mean([r[f] for r in rows])), "std": float(np.std([r[f] for r in rows]))}
                for f, _ in FEATURES
            }
            summary[str(layer)]["centroid_spread_octaves"] = artefacts.centroid_spread_octaves(
                [r["centroid_hz_mean"] for r in rows]
            )
            summary[str(layer)]["n_maps"] = len(rows)
    atlas = {"model": dreamer.card.get("name", ""), "weights_sha256": dreamer.card.get("weights_sha256", ""),
             "params": {k: v for k, v in base.to_dict().items()}, "layers": summary, "maps": entries}
    (out_dir / "atlas.json").write_text(json.dumps(atlas, indent=1))
    _layer_plot(summary, out_dir / "features.png")
    write_page(atlas, out_dir / "index.html")
    return atlas


def _layer_plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = sorted(int(k) for k in summary)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), dpi=90)
    for ax, (feature, label) in zip(axes, FEATURES):
        mean = np.array([summary[str(l)][feature]["mean"] for l in layers])
        std = np.array([summary[str(l)][feature]["std"] for l in layers])
        ax.plot(layers, mean, color="tab:red", marker="o")
        ax.fill_between(layers, mean - std, mean + std, color="tab:red", alpha=0.25)
        ax.set_xlabel("layer")
        ax.set_title(label, fontsize=9)
        ax.set_xticks(layers)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dreambridge atlas: {title}</title>
<script>
window.atlasErrors = 0;
window.addEventListener("error", function () {{
  window.atlasErrors++; document.documentElement.dataset.errors = window.atlasErrors;
}});
</script>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }}
h1 {{ font-size: 1.4em; }} .grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.map {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; width: 250px; }}
.map img {{ width: 240px; height: 104px; display: block; background: #000; }}
.map audio {{ width: 240px; }} .map table {{ font-size: 12px; width: 100%; }}
.map pre {{ font-size: 11px; background: #f0f0f0; padding: 4px; white-space: pre-wrap; }}
button {{ margin: 2px; }} .sortbar {{ margin: 1em 0; }}
</style></head>
<body data-maps="{n_maps}">
<h1>Layer atlas: {title}</h1>
<p>{n_maps} feature maps, each dreamed from the same white noise: {settings}.
Every number is in <code>atlas.json</code>.</p>
<h2>Features per layer (mean &plusmn; std over maps)</h2>
<img src="features.png" alt="features per layer" style="max-width:100%">
<div class="sortbar">Sort by:
{buttons}
</div>
<div class="grid" id="grid">
{cards}
</div>
<script>
function sortMaps(key, descending) {{
  var grid = document.getElementById("grid");
  var cards = Array.prototype.slice.call(grid.children);
  cards.sort(function (a, b) {{
    var x = parseFloat(a.dataset[key]), y = parseFloat(b.dataset[key]);
    return descending ? y - x : x - y;
  }});
  cards.forEach(function (c) {{ grid.appendChild(c); }});
}}
function copyPreset(id) {{
  var text = document.getElementById(id).textContent;
  if (navigator.clipboard) {{ navigator.clipboard.writeText(text).catch(function () {{}}); }}
}}
document.documentElement.dataset.errors = window.atlasErrors;
document.documentElement.dataset.players = document.querySelectorAll("audio").length;
</script>
</body></html>
"""

_SORT_KEYS = [("layer", "layer"), ("rms", "loudness"), ("centroid", "brightness"), ("flatness", "noisiness"),
              ("flux", "roughness"), ("comb", "comb share"), ("dc", "DC share")]


def write_page(atlas: dict, path: Path) -> None:
    cards = []
    for e in sorted(atlas["maps"], key=lambda e: (e["layer"], e["channel"])):
        preset = "schema = 1\n[params]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in e["params"].items())
        cards.append(
            f'<div class="map" data-layer="{e["layer"] * 10000 + e["channel"]}" data-rms="{e["rms_mean"]:.6g}" '
            f'data-centroid="{e["centroid_hz_mean"]:.6g}" data-flatness="{e["flatness_inband_mean"]:.6g}" '
            f'data-flux="{e["flux_mean"]:.6g}" data-comb="{e["comb_share"]:.6g}" data-dc="{e["dc_share"]:.6g}">'
            f"<b>layer {e['layer']}, map {e['channel']}</b>"
            f'<img src="{html.escape(e["image"])}" alt="spectrogram of layer {e["layer"]} map {e["channel"]}">'
            f'<audio controls preload="none" src="{html.escape(e["audio"])}"></audio>'
            f"<table><tr><td>RMS</td><td>{e['rms_mean']:.3f}</td><td>centroid</td><td>{e['centroid_hz_mean']:.0f} "
            "Hz</td></tr>"
            f"<tr><td>flatness</td><td>{e['flatness_inband_mean']:.3f}</td>"
            f"<td>flux</td><td>{e['flux_mean']:.4f}</td></tr>"
            f"<tr><td>comb</td><td>{100 * e['comb_share']:.1f} %</td><td>DC</td><td>{100 * e['dc_share']:.2f} "
            "%</td></tr></table>"
            f'<pre id="p-{e["key"]}">{html.escape(preset)}</pre>'
            f"<button onclick=\"copyPreset('p-{e['key']}')\">copy preset</button></div>"
        )
    buttons = "\n".join(
        f"<button onclick=\"sortMaps('{k}', {str(k != 'layer').lower()})\">{label}</button>" for k, label in _SORT_KEYS
    )
    p = atlas["params"]
    settings = (
        f"{p['iterations']} iterations, {p['excerpt_seconds']:g} s, lr {p['learning_rate']}, envelope lock "
        f"{p.get('envelope_lock', 0.0):g}, offset "
        f"{p['max_offset_samples']} "
        f"({p['jitter']} jitter), smoothing {p['smoothing_coef']} / {p['smoothing_kernel']}, low-pass "
        f"{p['lowpass_hz']:.0f} Hz, seed {p['seed']}"
    )
    path.write_text(
        _PAGE.format(
            title=html.escape(atlas["model"] or "model"),
            n_maps=len(atlas["maps"]),
            settings=html.escape(settings),
            buttons=buttons,
            cards="\n".join(cards),
        )
    )


def run_sweep(dreamer, param: str, values: list, out_dir, layer: int = 0, channel: int = 3, iterations: int = 100,
              seconds: float = 2.0, seed: int = 0, progress=None) -> dict:
    """Experiment 2: vary one parameter with the others fixed; plot each feature against it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rate = dreamer.sample_rate
    grids = stride_grids({"architecture": {"layers": [{"stride": s} for s in dreamer.layer_strides]}}, rate)
    base = paper_params(iterations, seconds, seed, rate).replace(layer=layer, channel=channel, learning_rate=0.04)
    rows = []
    for value in values:
        value = schema.coerce(param, value)
        y = dream_map(dreamer, base.replace(**{param: value}))
        row = {"value": value}
        row.update(_measure(y, rate, grids[layer]))
        rows.append(row)
        if progress:
            progress()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), dpi=90)
    xs = [r["value"] for r in rows]
    for ax, (feature, label) in zip(axes, FEATURES):
        ax.plot(xs, [r[feature] for r in rows], marker="o")
        ax.set_xlabel(param)
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / f"sweep_{param}.png")
    plt.close(fig)
    result = {"param": param, "layer": layer, "channel": channel, "fixed": base.to_dict(), "rows": rows}
    (out_dir / f"sweep_{param}.json").write_text(json.dumps(result, indent=1))
    return result
