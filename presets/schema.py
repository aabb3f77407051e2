"""The one parameter schema: every dream parameter declared once, as data.

Each :class:`Field` carries its type, unit, range or choices, default, documentation,
MIDI curve and default controller range, and whether it may be automated (moved while a
render or a stream runs) or swept (``dreambridge sweep``). Everything else derives from
``FIELDS``: the ``DreamParams`` dataclass and its validation (``presets.params``), the
README's parameter table (:func:`markdown_table`), ``--set`` parsing (:func:`parse_text`),
MIDI-learn ranges, sweep choices, and the parameters a plugin host or an OSC client sees
(:attr:`Field.osc_address`).

Effect parameters are first class too: ``fx.pre.N.NAME`` / ``fx.post.N.NAME`` (chain,
index in the chain, the plugin's parameter name) name a parameter of a preset's effect
chain; :func:`field` answers for them as for any other (numeric, automatable, no static
range: the plugin itself checks its range when the value is set).

Pure standard library: every room may import it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ParameterError

__all__ = [
    "Field", "FIELDS", "FX_PARAM", "field", "names", "is_fx", "split_fx", "coerce", "parse_text", "sweepable",
    "automatable", "markdown_table", "OSC_PREFIX",
]

FX_PARAM = re.compile(r"^fx\.(pre|post)\.(\d+)\.([A-Za-z_][A-Za-z0-9_]*)$")
OSC_PREFIX = "/dreambridge"
_TYPE_WORDS = {int: "a whole number", float: "a number", str: "text"}


@dataclass(frozen=True)
class Field:
    """One parameter, declared once.

    Parameters
    ----------
    name : str
        The ``DreamParams`` field (or ``fx.<chain>.<index>.<name>``).
    type : {int, float, str}
    default : int, float or str
    unit : str
        Unit word for docs and messages (``Hz``, ``s``, ``samples``, ``index``, ``mode``...).
    range_text : str
        The documented range, as the README shows it (may name model-dependent limits).
    doc : str
        What you hear when you move it.
    minimum, maximum : float, optional
        The model-independent limits (inclusive) checked by ``DreamParams``.
    choices : tuple of str
        The allowed values of a text parameter (empty: free text or a number).
    curve : {"lin", "log", "int", "choice", ""}
        MIDI curve of a learned controller (``""``: not learnable).
    midi_range : tuple of two numbers, optional
        Default controller range for MIDI learn (and a host's knob); ``None``: ``(minimum, maximum)``.
    automatable : bool
        May change while a render or stream runs (MIDI CC, OSC, host automation, a MIDI file).
        ``excerpt_seconds`` and ``crossfade_seconds`` set the excerpt grid once, so they may not.
    sweepable : bool
        Offered by ``dreambridge sweep``.
    """

    name: str
    type: type
    default: object
    unit: str
    range_text: str
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    curve: str = ""
    midi_range: tuple | None = None
    automatable: bool = True
    sweepable: bool = False

    @property
    def kind(self) -> str:
        """``"int"``, ``"float"`` or ``"str"``."""
        return self.type.__name__

    @property
    def discrete(self) -> bool:
        """Steps rather than glides (ints and choices are never smoothed)."""
        return self.type is not float

    @property
    def osc_address(self) -> str:
        """The OSC address of this parameter: ``/dreambridge/lowpass_hz``, ``/dreambridge/fx/post/0/gain_db``."""
        return f"{OSC_PREFIX}/{self.name.replace('.', '/')}"

    @property
    def learn_range(self) -> tuple | None:
        """Controller range for MIDI learn (``None`` for choices)."""
        if self.choices:
            return None
        return self.midi_range or (self.minimum, self.maximum)

    def coerce(self, value):
        """``value`` as this field's type (a whole float becomes an int; text is stripped).

        Raises
        ------
        ParameterError
            When the value has the wrong type, is not whole for an int, or is not finite.
        """
        try:
            if self.type is int:
                if isinstance(value, bool):
                    raise TypeError
                if isinstance(value, float):
                    if value != int(value):
                        raise ParameterError(f"{self.name}={value!r} must be a whole number")
                    return int(value)
                return int(value)
            if self.type is float:
                if isinstance(value, bool):
                    raise TypeError
                v = float(value)
                if not math.isfinite(v):
                    raise ParameterError(f"{self.name}={value!r} must be a finite number")
                return v
            if not isinstance(value, str):
                raise TypeError
            return value.strip()
        except ParameterError:
            raise
        except (TypeError, ValueError, OverflowError):
            raise ParameterError(f"{self.name}={value!r} must be {_TYPE_WORDS[self.type]}") from None

    def check(self, value) -> None:
        """Raise :class:`ParameterError` when a coerced ``value`` is outside the range or choices."""
        if self.choices:
            if value not in self.choices:
                raise ParameterError(f"{self.name}={value!r} is not one of {', '.join(self.choices)}")
            return
        if self.minimum is not None and not self.minimum <= value <= self.maximum:
            raise ParameterError(f"{self.name}={value:g} is outside {self.minimum:g}..{self.maximum:g} ({self.unit}); "
                                 "choose a value in that range")


def _f(name, type_, default, unit, range_text, doc, **kw) -> Field:
    return Field(name, type_, default, unit, range_text, doc, **kw)


# The declaration. Order = DreamParams' field order.
FIELDS: dict[str, Field] = {f.name: f for f in (
    _f("layer", int, 2, "index", "0..n_layers-1",
       "The strongest control (Bisig): layer 0 gives pitched, simple spectra; deeper layers burstier, noisier, more "
       "complex sound.", minimum=0, maximum=1023, curve="int", midi_range=(0, 7)),  # the model checks its own count
    _f("channel", int, -1, "index", "-1 (all) or 0..channels-1",
       "Which feature map of the layer to amplify; at layer 0 the map sets the pitch region, deeper maps differ less.",
       minimum=-1, maximum=4095, curve="int", midi_range=(-1, 31)),
    _f("selection", str, "", "spec", '"L:C*W, ..." or ""',
       "Several layers/maps at once with weights, e.g. \"0:3*0.5, 2:all\"; overrides layer/channel when set.",
       automatable=False),
    _f("iterations", int, 10, "count", "0..100000",
       "Gradient steps per excerpt: more means further from the source (slightly rougher).",
       minimum=0, maximum=100000, curve="int", midi_range=(1, 20), sweepable=True),
    _f("learning_rate", float, 0.04, "1/step", "0..10",
       "Step size: larger changes faster and slightly brighter/noisier.",
       minimum=0, maximum=10, curve="log", midi_range=(0.005, 0.2), sweepable=True),
    _f("max_offset_samples", int, 1, "samples", "0..44100",
       "Random temporal jitter before each step: larger raises brightness and noisiness.",
       minimum=0, maximum=44100, curve="int", midi_range=(0, 512), sweepable=True),
    _f("jitter", str, "grid", "mode", "grid, fixed or balanced",
       "grid: the offset range also spans the dreamed layer's stride period (up to 50 ms), so strided convs leave no "
       "comb buzz; fixed: exactly +-max_offset_samples (the papers); balanced: the same range, every offset used "
       "equally often (order drawn by the seed), so the seed moves the dream less and the maps stand out more.",
       choices=("grid", "fixed", "balanced"), curve="choice"),
    _f("grid_notch_hz", float, 0.0, "Hz", "0 (off)..50",
       "Width (sigma) of the notches that keep the dreamed layers' stride grids (every 44100/7 Hz, 44100/49 Hz, ...) "
       "out of the dream step: no steady metallic whistle.",
       minimum=0, maximum=50, curve="lin", midi_range=(0.0, 20.0), sweepable=True),
    _f("envelope_lock", float, 0.0, "fraction", "0..1",
       "Inside the loop, after every step, give the dream the input's loudness contour (23 ms): a strong dream then "
       "reshapes the sound within each moment instead of collapsing into a few loud bursts (0: the papers).",
       minimum=0, maximum=1, curve="lin", sweepable=True),
    _f("octaves", int, 1, "count", "1..4",
       "Dream at several time scales (image DeepDream's octaves): each extra octave first dreams the excerpt sped up "
       "by octave_scale, so the network's patterns land at new pitches and rhythms; 1 is off.",
       minimum=1, maximum=4, curve="int", midi_range=(1, 4), sweepable=True),
    _f("octave_scale", float, 1.5, "ratio", "1.1..4",
       "Speed-up between octaves (1.5: a fifth up and two thirds of the time per octave).",
       minimum=1.1, maximum=4, curve="log", midi_range=(1.1, 3.0), sweepable=True),
    _f("smoothing_coef", float, 0.5, "samples", "0..20",
       "Base sigma of the cascade Gaussian gradient smoothing (sigma = coef + 2 (i+1)/n); barely audible (Bisig).",
       minimum=0, maximum=20, curve="lin", midi_range=(0.1, 2.0), sweepable=True),
    _f("smoothing_kernel", int, 9, "taps", "odd 1..101",
       "Taps of each smoothing Gaussian; 1 switches smoothing off; barely audible.",
       minimum=1, maximum=101, curve="int", midi_range=(1, 17), sweepable=True),
    _f("lowpass_hz", float, 12000.0, "Hz", "0 (off) or 20..Nyquist",
       "Low-pass in the loop: brightness follows it directly; low values also lower loudness.",
       minimum=0, maximum=96000, curve="log", midi_range=(500.0, 16000.0), sweepable=True),
    _f("highpass_hz", float, 20.0, "Hz", "0 (off) or 1..1000",
       "DC blocker in the loop, so the dream never drifts into sub-audio offset.",
       minimum=0, maximum=1000, curve="log", midi_range=(5.0, 200.0), sweepable=True),
    _f("grad_norm", str, "max", "mode", "max, mean or std",
       "How the gradient is normalised before the step (Ardila: max).", choices=("max", "mean", "std"), curve="choice"),
    _f("decorrelate", float, 0.0, "weight", "0..1",
       "When single maps are chosen, also push the layer's other maps down (weight -decorrelate, spread over them): "
       "the chosen map's own character comes out, so maps of deep layers sound less alike.",
       minimum=0, maximum=1, curve="lin", sweepable=True),
    _f("sparsity", float, 0.0, "weight", "0..100",
       "Ardila sparsity cost (L1 of layer 0): thins the dream out to fewer, sparser events.",
       minimum=0, maximum=100, curve="lin", midi_range=(0.0, 2.0), sweepable=True),
    _f("continuity", float, 0.0, "weight", "0..100",
       "Ardila continuity cost (layer-0 frame differences): smoother, more sustained sound.",
       minimum=0, maximum=100, curve="lin", midi_range=(0.0, 2.0), sweepable=True),
    _f("target_class", int, -1, "class index", "-1 (off) or 0..n_classes-1",
       "Dream towards a class (\"fooling\") instead of amplifying feature maps.",
       minimum=-1, maximum=100000, curve="int", midi_range=(-1, 127)),
    _f("mode", str, "deepdream", "mode", "deepdream, filter, filter_flip, filter_add or target",
       "DreamSound modes: deepdream adds the gradient (two layers heard at once); filter passes the sound only where "
       "the gradient's STFT is strong (the mask); filter_flip shapes the gradient by the sound; filter_add adds the "
       "filtered sound back each step (the most expressive); target builds the mask from a target sound (--target).",
       choices=("deepdream", "filter", "filter_flip", "filter_add", "target"), curve="choice"),
    _f("threshold", float, 0.1, "fraction", "0..1",
       "Hard-cut mask threshold on the max-normalised STFT magnitude: higher cuts more bins (sparser, more filtered).",
       minimum=0, maximum=1, curve="lin"),
    _f("n_fft", int, 2048, "samples", "64..16384",
       "STFT size of the filter modes: longer is finer in frequency, smearier in time.",
       minimum=64, maximum=16384, automatable=False),
    _f("hop_length", int, 512, "samples", "16..n_fft/2", "STFT hop of the filter modes.",
       minimum=16, maximum=8192, automatable=False),
    _f("win_length", int, 2048, "samples", "hop*2..n_fft", "STFT window of the filter modes.",
       minimum=16, maximum=16384, automatable=False),
    _f("output", str, "dream", "mode", "dream or gradient",
       "gradient sonifies the (normalised, smoothed) gradient itself instead of the dream (DreamSound's 'sonifying "
       "the gradients').", choices=("dream", "gradient"), curve="choice"),
    _f("init", str, "input", "mode", "input, noise or silence",
       "What the dream starts from: the input, white noise, or silence.", choices=("input", "noise", "silence"),
       curve="choice"),
    _f("envelope", float, 0.0, "fraction", "0..1",
       "How closely the dream follows the input's loudness contour (23 ms windows): 1 keeps the groove, 0 lets the "
       "dream breathe on its own.", minimum=0, maximum=1, curve="lin"),
    _f("mix", float, 1.0, "fraction", "0..1", "Dry/wet: 0 is the input untouched, 1 the dream alone.",
       minimum=0, maximum=1, curve="lin"),
    _f("excerpt_seconds", float, 1.0, "s", "0.05..30",
       "Length of each dreamed window (the model hears 1 s in training).",
       minimum=0.05, maximum=30, curve="lin", midi_range=(0.25, 2.0), automatable=False),
    _f("crossfade_seconds", float, 0.1, "s", "0..excerpt/2",
       "Crossfade between neighbouring windows: longer is smoother, shorter is faster.",
       minimum=0, maximum=15, curve="lin", midi_range=(0.01, 0.2), automatable=False),
    _f("seed", int, 0, "integer", "0..2**31-1", "Random seed: same seed, same dream.",
       minimum=0, maximum=2**31 - 1, curve="int", midi_range=(0, 127)),
    _f("method", str, "excerpt", "mode", "excerpt or round_robin",
       "excerpt: each window is dreamed once (an effect); round_robin (Bisig & Wegner, Experiment 2): one buffer is "
       "dreamed in place, window after window, round after round, so the dream accumulates while playback moves "
       "through the buffer.", choices=("excerpt", "round_robin"), automatable=False),
    _f("buffer_seconds", float, 4.0, "s", "excerpt_seconds..600",
       "round_robin: length of the buffer that is dreamed in place and heard as a loop (noise, silence, or the first "
       "seconds of the input).", minimum=0.05, maximum=600, automatable=False),
    _f("excerpts_per_second", float, 4.0, "excerpts/s", "0.1..1000",
       "round_robin: the pace, windows dreamed per second of output; with iterations it sets how fast the sound "
       "evolves, on every machine alike.", minimum=0.1, maximum=1000, curve="log", midi_range=(0.5, 32.0)),
)}


def names() -> list[str]:
    """The dream parameters, in declaration order."""
    return list(FIELDS)


def is_fx(name: str) -> bool:
    """Whether ``name`` is an effect parameter (``fx.pre.N.NAME`` / ``fx.post.N.NAME``)."""
    return bool(FX_PARAM.match(str(name)))


def split_fx(name: str) -> tuple[str, int, str]:
    """``"fx.post.0.gain_db"`` -> ``("post", 0, "gain_db")``."""
    m = FX_PARAM.match(str(name))
    if not m:
        raise ParameterError(f"{name!r} is not an effect parameter; write fx.pre.N.NAME or fx.post.N.NAME")
    return m.group(1), int(m.group(2)), m.group(3)


def field(name: str) -> Field:
    """The :class:`Field` of a dream or effect parameter.

    Raises
    ------
    ParameterError
        For an unknown name (the message lists the valid ones).
    """
    if name in FIELDS:
        return FIELDS[name]
    if is_fx(name):
        return Field(name, float, 0.0, "plugin unit", "the plugin's own range",
                     "A parameter of a preset's effect chain (pedalboard or VST3), set on the running plugin.",
                     curve="lin")
    raise ParameterError(
        f"unknown parameter {name!r}; valid names: {', '.join(FIELDS)}, or fx.pre.N.NAME / fx.post.N.NAME"
    )


def coerce(name: str, value):
    """``value`` converted to the type of parameter ``name`` and checked against its range or
    choices (cross-parameter rules, such as odd kernels or hop <= win/2, are ``DreamParams``')."""
    f = field(name)
    value = f.coerce(value)
    f.check(value)
    return value


def parse_text(name: str, text: str):
    """A command-line value (``--set NAME=TEXT``, an OSC string) for parameter ``name``:
    a number for numeric fields (kept as float; ``DreamParams`` makes whole ones int), text otherwise."""
    f = field(name)
    if f.type is str:
        return text
    try:
        return float(text)
    except ValueError:
        raise ParameterError(f"{name}={text!r} must be a number") from None


def sweepable() -> list[str]:
    """The parameters ``dreambridge sweep`` may vary."""
    return [f.name for f in FIELDS.values() if f.sweepable]


def automatable() -> list[str]:
    """The dream parameters that may move while a render or stream runs."""
    return [f.name for f in FIELDS.values() if f.automatable]


def markdown_table() -> str:
    """The README's parameter table, generated from ``FIELDS``."""
    rows = ["| parameter | unit | range | default | what you hear when you move it |", "|---|---|---|---|---|"]
    for f in FIELDS.values():
        default = '""' if f.default == "" else f.default
        rows.append(f"| `{f.name}` | {f.unit} | {f.range_text} | {default} | {f.doc} |")
    return "\n".join(rows)
