"""``dreambridge analyze``: the Bisig features, artefact measures and comparisons of files."""

from __future__ import annotations

import numpy as np

from dreambridge.bridge.io.audio import read_audio
from dreambridge.dsp import artefacts, measures
from dreambridge.dsp.features import feature_summary

__all__ = [
    "analyze_signal",
    "analyze_file",
    "compare_signals",
    "compare_files",
    "format_comparison",
    "stride_grids",
    "dream_map",
    "INBAND_HZ",
]

INBAND_HZ = (40.0, 8000.0)


def stride_grids(card: dict, sample_rate: int) -> list[float]:
    """``f0`` of each layer's stride grid: ``sample_rate / prod(strides up to it)``."""
    out, product = [], 1
    for layer in card["architecture"]["layers"]:
        product *= layer["stride"] * (layer.get("pool_stride") or 1)
        out.append(sample_rate / product)
    return out


def dream_map(dreamer, params) -> np.ndarray:
    """Dream one map the lab way: ``params`` (``init`` noise or silence, one excerpt of
    ``excerpt_seconds``) into a mono signal at the model's rate. The atlas, sweeps and the
    artefact and variety reports all dream through this one helper, then measure."""
    rate = dreamer.sample_rate
    dreamer.set_params(params)
    return dreamer.process(np.zeros((1, int(round(params.excerpt_seconds * rate))), np.float32), rate)[0]


def analyze_signal(mono: np.ndarray, sample_rate: int, grids: list[float] | None = None) -> dict:
    """Features (mean/std), in-band flatness, DC share and comb shares of a mono signal."""
    result = feature_summary(mono, sample_rate, band_hz=INBAND_HZ)
    result["dc_share"] = artefacts.dc_share(mono, sample_rate)
    if grids:
        result["comb_share"] = [artefacts.comb_share(mono, sample_rate, f0) for f0 in grids]
        result["comb_chance"] = [artefacts.comb_chance(f0) for f0 in grids]
    return result


def analyze_file(path, grids_from_card: dict | None = None) -> dict:
    audio, rate = read_audio(path, allow_hot=True)  # a measure reads any file, hot floats too
    mono = audio.mean(axis=0)
    grids = stride_grids(grids_from_card, rate) if grids_from_card else None
    out = {"file": str(path), "sample_rate": rate, "channels": audio.shape[0], "seconds": audio.shape[1] / rate}
    out.update(analyze_signal(mono, rate, grids))
    return out


def compare_signals(dry: np.ndarray, wet: np.ndarray, sample_rate: int, grids: list[float] | None = None) -> dict:
    """The numbers a dreamed stem is judged by (issue 15's targets in brackets).

    Envelope correlation (>= 0.8), log-spectral distance in dB, in-band flatness (<= 0.1)
    of the sounding frames (within 60 dB of the loudest; rests are not hiss), the EQ+gain
    residual in dB (more than an EQ: >= 8), the 8-16 kHz power share change in dB (no
    dull roof: within 6) and, given ``grids`` (the stride grids of the dreamed layers),
    the median line prominence per grid in the output and the input (no stride-grid lines:
    <= 3 dB; NaN for a grid too fine to resolve).
    """
    from dreambridge.dsp.features import spectral_flatness

    out = {
        "envelope_correlation": artefacts.envelope_correlation(dry, wet, sample_rate),
        "log_spectral_distance_db": artefacts.log_spectral_distance(dry, wet, sample_rate),
        "inband_flatness_in": float(np.mean(spectral_flatness(dry, sample_rate, band_hz=INBAND_HZ, gate_db=60.0))),
        "inband_flatness_out": float(np.mean(spectral_flatness(wet, sample_rate, band_hz=INBAND_HZ, gate_db=60.0))),
        "eq_gain_residual_db": measures.eq_gain_residual(dry, wet),
        "hf_share_change_db": measures.band_share_change_db(dry, wet, sample_rate),
    }
    if grids:
        out["grids_hz"] = [float(g) for g in grids]
        out["grid_lines_db"] = measures.grid_line_summary(wet, sample_rate, grids)
        out["grid_lines_in_db"] = measures.grid_line_summary(dry, sample_rate, grids)
    return out


def compare_files(dry_path, wet_path, grids_from_card: dict | None = None, n_layers: int | None = None) -> dict:
    """``compare_signals`` of two files (mixed to mono); the stride grids of the first
    ``n_layers`` layers of ``grids_from_card`` (all when None) are measured."""
    from dreambridge.presets.errors import AudioIOError

    dry, rate = read_audio(dry_path, allow_hot=True)
    wet, rate2 = read_audio(wet_path, allow_hot=True)
    if rate != rate2:
        raise AudioIOError(f"{dry_path} is {rate} Hz but {wet_path} is {rate2} Hz; compare files at the same rate")
    out = {"input": str(dry_path), "output": str(wet_path)}
    grids = stride_grids(grids_from_card, rate)[:n_layers] if grids_from_card else None
    out.update(compare_signals(dry.mean(axis=0), wet.mean(axis=0), rate, grids))
    out["channels"] = [dry.shape[0], wet.shape[0]]
    return out


def format_comparison(result: dict) -> str:
    """The ``analyze --compare`` lines, each with issue 15's target."""
    grids = ", ".join(f"{g:g} Hz: {'-' if v != v else f'{v:.1f}'} (in {'-' if w != w else f'{w:.1f}'})"
                      for g, v, w in zip(result.get("grids_hz", []), result.get("grid_lines_db", []),
                                         result.get("grid_lines_in_db", [])) if v == v or w == w)
    lines = [
        f"{result['input']} -> {result['output']}",
        f"  envelope correlation   {result['envelope_correlation']:8.3f}    (rhythm kept: >= 0.8)",
        f"  log-spectral distance  {result['log_spectral_distance_db']:8.2f} dB (audible change)",
        f"  in-band flatness       {result['inband_flatness_in']:8.4f} -> {result['inband_flatness_out']:.4f} "
        "(not hiss: <= 0.1)",
        f"  EQ+gain residual       {result['eq_gain_residual_db']:8.2f} dB (more than an EQ: >= 8; a plain EQ ~0)",
        f"  8-16 kHz share change  {result['hf_share_change_db']:+8.2f} dB (no dull roof: within 6)",
        f"  channels               {result['channels'][0]} -> {result['channels'][1]}",
    ]
    if grids:
        lines.append(f"  stride-grid lines dB   {grids} (no whistle: <= 3; finer grids cannot be resolved)")
    return "\n".join(lines)
