"""``DreamParams``: every parameter of a dream, validated in one place.

Presets, ``--set key=value``, MIDI maps and automation all produce a ``DreamParams``;
``params.replace(**changes)`` re-validates. Model-dependent limits (layer index, channel
count, Nyquist, class count) are checked again when a model is attached
(``Dreamer``), with the same kind of message.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import ParameterError

__all__ = ["DreamParams", "PARAM_DOCS", "parse_selection", "parse_assignment"]

GRAD_NORMS = ("max", "mean", "std")
JITTERS = ("grid", "fixed")
MODES = ("deepdream", "filter", "filter_flip", "filter_add", "target")
OUTPUTS = ("dream", "gradient")
INITS = ("input", "noise", "silence")

# name -> (unit, range text, what you hear). Drives the README table and `presets show`.
PARAM_DOCS: dict[str, tuple[str, str, str]] = {
    "layer": ("index", "0..n_layers-1", "The strongest control (Bisig): layer 0 gives pitched, simple spectra; deeper layers burstier, noisier, more complex sound."),
    "channel": ("index", "-1 (all) or 0..channels-1", "Which feature map of the layer to amplify; at layer 0 the map sets the pitch region, deeper maps differ less."),
    "selection": ("spec", '"L:C*W, ..." or ""', "Several layers/maps at once with weights, e.g. \"0:3*0.5, 2:all\"; overrides layer/channel when set."),
    "iterations": ("count", "0..100000", "Gradient steps per excerpt: more means further from the source (slightly rougher)."),
    "learning_rate": ("1/step", "0..10", "Step size: larger changes faster and slightly brighter/noisier."),
    "max_offset_samples": ("samples", "0..44100", "Random temporal jitter before each step: larger raises brightness and noisiness."),
    "jitter": ("mode", "grid or fixed", "grid: the offset range also spans the dreamed layer's stride period (up to 50 ms), so strided convs leave no comb buzz; fixed: exactly +-max_offset_samples (the papers)."),
    "grid_notch_hz": ("Hz", "0 (off)..50",
        "Width (sigma) of the notches that keep the dreamed layers' stride grids (every 44100/7 Hz, 44100/49 "
        "Hz, ...) out of the dream step: no steady metallic whistle."),
    "envelope_lock": ("fraction", "0..1",
        "Inside the loop, after every step, give the dream the input's loudness contour (23 ms): a strong "
        "dream then reshapes the sound within each moment instead of collapsing into a few loud bursts (0: "
        "the papers)."),
    "octaves": ("count", "1..4",
        "Dream at several time scales (image DeepDream's octaves): each extra octave first dreams the excerpt "
        "sped up by octave_scale, so the network's patterns land at new pitches and rhythms; 1 is off."),
    "octave_scale": ("ratio", "1.1..4",
        "Speed-up between octaves (1.5: a fifth up and two thirds of the time per octave)."),
    "smoothing_coef": ("samples", "0..20", "Base sigma of the cascade Gaussian gradient smoothing (sigma = coef + 2 (i+1)/n); barely audible (Bisig)."),
    "smoothing_kernel": ("taps", "odd 1..101", "Taps of each smoothing Gaussian; 1 switches smoothing off; barely audible."),
    "lowpass_hz": ("Hz", "0 (off) or 20..Nyquist", "Low-pass in the loop: brightness follows it directly; low values also lower loudness."),
    "highpass_hz": ("Hz", "0 (off) or 1..1000", "DC blocker in the loop, so the dream never drifts into sub-audio offset."),
    "grad_norm": ("mode", "max, mean or std", "How the gradient is normalised before the step (Ardila: max)."),
    "decorrelate": ("weight", "0..1", "When single maps are chosen, also push the layer's other maps down (weight -decorrelate, spread over them): the chosen map's own character comes out, so maps of deep layers sound less alike."),
    "sparsity": ("weight", "0..100", "Ardila sparsity cost (L1 of layer 0): thins the dream out to fewer, sparser events."),
    "continuity": ("weight", "0..100", "Ardila continuity cost (layer-0 frame differences): smoother, more sustained sound."),
    "target_class": ("class index", "-1 (off) or 0..n_classes-1", "Dream towards a class (\"fooling\") instead of amplifying feature maps."),
    "mode": ("mode", "deepdream, filter, filter_flip, filter_add or target", "DreamSound modes: deepdream adds the gradient (two layers heard at once); filter passes the sound only where the gradient's STFT is strong (the mask); filter_flip shapes the gradient by the sound; filter_add adds the filtered sound back each step (the most expressive); target builds the mask from a target sound (--target)."),
    "threshold": ("fraction", "0..1", "Hard-cut mask threshold on the max-normalised STFT magnitude: higher cuts more bins (sparser, more filtered)."),
    "n_fft": ("samples", "64..16384", "STFT size of the filter modes: longer is finer in frequency, smearier in time."),
    "hop_length": ("samples", "16..n_fft/2", "STFT hop of the filter modes."),
    "win_length": ("samples", "hop*2..n_fft", "STFT window of the filter modes."),
    "output": ("mode", "dream or gradient", "gradient sonifies the (normalised, smoothed) gradient itself instead of the dream (DreamSound's 'sonifying the gradients')."),
    "init": ("mode", "input, noise or silence", "What the dream starts from: the input, white noise, or silence."),
    "envelope": ("fraction", "0..1", "How closely the dream follows the input's loudness contour (23 ms windows): 1 keeps the groove, 0 lets the dream breathe on its own."),
    "mix": ("fraction", "0..1", "Dry/wet: 0 is the input untouched, 1 the dream alone."),
    "excerpt_seconds": ("s", "0.05..30", "Length of each dreamed window (the model hears 1 s in training)."),
    "crossfade_seconds": ("s", "0..excerpt/2", "Crossfade between neighbouring windows: longer is smoother, shorter is faster."),
    "seed": ("integer", "0..2**31-1", "Random seed: same seed, same dream."),
}


@dataclass(frozen=True)
class DreamParams:
    """All dream parameters (see ``PARAM_DOCS`` and the README for units and ranges)."""

    layer: int = 2
    channel: int = -1
    selection: str = ""
    iterations: int = 10
    learning_rate: float = 0.04
    max_offset_samples: int = 1
    jitter: str = "grid"
    grid_notch_hz: float = 0.0
    envelope_lock: float = 0.0
    octaves: int = 1
    octave_scale: float = 1.5
    smoothing_coef: float = 0.5
    smoothing_kernel: int = 9
    lowpass_hz: float = 12000.0
    highpass_hz: float = 20.0
    grad_norm: str = "max"
    decorrelate: float = 0.0
    sparsity: float = 0.0
    continuity: float = 0.0
    target_class: int = -1
    mode: str = "deepdream"
    threshold: float = 0.1
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int = 2048
    output: str = "dream"
    init: str = "input"
    envelope: float = 0.0
    mix: float = 1.0
    excerpt_seconds: float = 1.0
    crossfade_seconds: float = 0.1
    seed: int = 0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(f.name, f.type, value))
        self._validate()

    # -- validation -------------------------------------------------------------
    def _validate(self) -> None:
        def in_range(name, lo, hi):
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ParameterError(f"{name}={v:g} is outside {lo:g}..{hi:g} ({PARAM_DOCS[name][0]}); choose a value in that range")

        in_range("layer", 0, 31)
        in_range("channel", -1, 4095)
        in_range("iterations", 0, 100000)
        in_range("learning_rate", 0, 10)
        in_range("max_offset_samples", 0, 44100)
        in_range("grid_notch_hz", 0, 50)
        in_range("envelope_lock", 0, 1)
        in_range("octaves", 1, 4)
        in_range("octave_scale", 1.1, 4)
        in_range("smoothing_coef", 0, 20)
        in_range("smoothing_kernel", 1, 101)
        if self.smoothing_kernel % 2 == 0:
            raise ParameterError(f"smoothing_kernel={self.smoothing_kernel} must be odd (e.g. {self.smoothing_kernel + 1})")
        in_range("lowpass_hz", 0, 96000)
        if 0 < self.lowpass_hz < 20:
            raise ParameterError(f"lowpass_hz={self.lowpass_hz:g} is below 20 Hz and would silence the dream; use 0 (off) or 20..Nyquist")
        in_range("highpass_hz", 0, 1000)
        if self.lowpass_hz and self.highpass_hz and self.highpass_hz >= self.lowpass_hz:
            raise ParameterError(f"highpass_hz={self.highpass_hz:g} must be below lowpass_hz={self.lowpass_hz:g}")
        if self.jitter not in JITTERS:
            raise ParameterError(f"jitter={self.jitter!r} is not one of {', '.join(JITTERS)}")
        if self.grad_norm not in GRAD_NORMS:
            raise ParameterError(f"grad_norm={self.grad_norm!r} is not one of {', '.join(GRAD_NORMS)}")
        in_range("decorrelate", 0, 1)
        in_range("sparsity", 0, 100)
        in_range("continuity", 0, 100)
        in_range("target_class", -1, 100000)
        if self.mode not in MODES:
            raise ParameterError(f"mode={self.mode!r} is not one of {', '.join(MODES)}")
        if self.output not in OUTPUTS:
            raise ParameterError(f"output={self.output!r} is not one of {', '.join(OUTPUTS)}")
        in_range("threshold", 0, 1)
        in_range("n_fft", 64, 16384)
        in_range("win_length", 16, self.n_fft)
        in_range("hop_length", 16, self.win_length // 2)
        if self.init not in INITS:
            raise ParameterError(f"init={self.init!r} is not one of {', '.join(INITS)}")
        in_range("mix", 0, 1)
        in_range("envelope", 0, 1)
        in_range("excerpt_seconds", 0.05, 30)
        if not 0 <= self.crossfade_seconds <= self.excerpt_seconds / 2:
            raise ParameterError(
                f"crossfade_seconds={self.crossfade_seconds:g} is outside 0..{self.excerpt_seconds / 2:g} (half of excerpt_seconds)"
            )
        in_range("seed", 0, 2**31 - 1)
        parse_selection(self.selection)

    # -- API ---------------------------------------------------------------------
    def replace(self, **changes) -> "DreamParams":
        """A copy with ``changes`` applied and validated (unknown names are an error)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ParameterError(f"unknown parameter {unknown[0]!r}; valid names: {', '.join(self.names())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict) -> "DreamParams":
        return cls().replace(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def targets(self) -> list[tuple[int, int, float]]:
        """``[(layer, channel, weight)]`` to maximise (channel -1 = all channels)."""
        if self.selection.strip():
            return parse_selection(self.selection)
        return [(self.layer, self.channel, 1.0)]


def _coerce(name: str, type_name, value):
    type_name = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if type_name == "int":
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, float):
                if value != int(value):
                    raise ParameterError(f"{name}={value!r} must be a whole number")
                return int(value)
            return int(value)
        if type_name == "float":
            if isinstance(value, bool):
                raise TypeError
            v = float(value)
            if v != v or v in (float("inf"), float("-inf")):
                raise ParameterError(f"{name}={value!r} must be a finite number")
            return v
        if type_name == "str":
            if not isinstance(value, str):
                raise TypeError
            return value.strip()
    except ParameterError:
        raise
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be {'a whole number' if type_name == 'int' else 'a number' if type_name == 'float' else 'text'}") from None
    return value


_SEL = re.compile(r"^\s*(\d+)\s*:\s*(all|\d+)\s*(?:\*\s*([0-9.eE+-]+))?\s*$")


def parse_selection(spec: str) -> list[tuple[int, int, float]]:
    """Parse ``"L:C*W, L:all"`` into ``[(layer, channel, weight)]`` (channel -1 = all)."""
    out = []
    if not spec or not spec.strip():
        return out
    for part in spec.split(","):
        m = _SEL.match(part)
        if not m:
            raise ParameterError(f"selection part {part.strip()!r} is not LAYER:CHANNEL[*WEIGHT] (e.g. \"2:5*0.5\" or \"3:all\")")
        layer = int(m.group(1))
        channel = -1 if m.group(2) == "all" else int(m.group(2))
        try:
            weight = float(m.group(3)) if m.group(3) else 1.0
        except ValueError:
            raise ParameterError(f"selection weight {m.group(3)!r} is not a number") from None
        if not 0 <= weight <= 1000:
            raise ParameterError(f"selection weight {weight:g} is outside 0..1000")
        out.append((layer, channel, weight))
    return out


def parse_assignment(text: str) -> tuple[str, object]:
    """Parse ``key=value`` from the command line; the value's type follows the field."""
    if "=" not in text:
        raise ParameterError(f"--set {text!r} is not KEY=VALUE (e.g. --set lowpass_hz=8000)")
    key, raw = (s.strip() for s in text.split("=", 1))
    types = {f.name: f.type for f in dataclasses.fields(DreamParams)}
    if key not in types:
        raise ParameterError(f"unknown parameter {key!r}; valid names: {', '.join(types)}")
    type_name = types[key] if isinstance(types[key], str) else types[key].__name__
    if type_name in ("int", "float"):
        try:
            value = float(raw)
        except ValueError:
            raise ParameterError(f"{key}={raw!r} must be a number") from None
        return key, value
    return key, raw
