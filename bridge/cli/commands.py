"""Implementations of the CLI subcommands (imported after argument parsing)."""

from __future__ import annotations

import json
import shlex
import sys

import numpy as np

from dreambridge.presets import DreamParams, load_preset, schema
from dreambridge.presets.errors import ParameterError

__all__ = ["cmd_dream", "cmd_batch", "cmd_live", "cmd_serve", "cmd_plugin", "cmd_devices", "cmd_midi", "cmd_analyze",
           "cmd_atlas", "cmd_sweep", "cmd_report", "cmd_style", "cmd_presets", "cmd_models", "cmd_data", "command_line",
           "cmd_train", "cmd_export", "cmd_bench"]


def cmd_dream(args) -> int:
    from dreambridge.bridge.engine.schedule import resolve
    from dreambridge.bridge.io.audio import check_output_path, output_format, probe

    resolved = resolve(args.preset, args.sets, seed=args.seed, init=args.init)
    params = resolved.params
    if params.init == "input":
        if args.input is None:
            raise ParameterError("give an INPUT file, or --init noise|silence with --duration SECONDS")
        if args.duration is not None:
            raise ParameterError("--duration is only for --init noise|silence; an input file sets its own length")
        info = probe(args.input)
        output_format(args.output, info, args.subtype)
    else:
        if args.input is not None:
            raise ParameterError(
                f"--init {params.init} dreams without an input; drop {args.input!r} or use --init input"
            )
        if args.duration is not None and not 0 < args.duration <= 3600:
            raise ParameterError(f"--duration {args.duration:g} must be more than 0 and at most 3600 seconds")
        output_format(args.output, None, args.subtype)
    inputs = [args.input, args.target, _preset_file(args.preset)]
    check_output_path(args.output, args.overwrite, inputs)
    if args.target is not None:
        if params.mode != "target":
            raise ParameterError(f"--target {args.target} is used only with --set mode=target "
                                 f"(the mode is {params.mode!r})")
        probe(args.target)
    elif params.mode == "target":
        raise ParameterError("mode=target needs --target FILE (the sound whose spectrum builds the mask)")
    if args.plot is not None:
        if not args.plot.lower().endswith(".png"):
            raise ParameterError(f"--plot {args.plot} must be a .png file")
        check_output_path(args.plot, args.overwrite, [*inputs, args.output])

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.io.files import dream_file, dream_to_file
    from dreambridge.bridge.live.fx import build_chains

    pre, post = build_chains(resolved.preset, resolved.fx, resolved.schedule)
    dreamer = Dreamer(args.model, params, device=args.device, backend=args.backend)
    dreamer.set_schedule(resolved.schedule)
    if args.target is not None:
        from dreambridge.bridge.io.audio import read_audio

        dreamer.set_target(*read_audio(args.target))
    if params.init == "input":
        stats = dream_file(
            dreamer, args.input, args.output, args.subtype, progress=not args.quiet, pre_fx=pre, post_fx=post
        )
        seconds = info.seconds
    else:
        seconds = args.duration or 4.0
        stats = dream_to_file(
            dreamer, args.output, seconds, subtype=args.subtype, progress=not args.quiet, post_fx=post
        )
    if args.plot:
        from dreambridge.bridge.io.audio import read_audio
        from dreambridge.bridge.lab.plots import plot_dream

        dry = read_audio(args.input)[0] if params.init == "input" else None
        wet, rate = read_audio(args.output)
        plot_dream(args.plot, dry, wet, rate, dreamer.__dict__.get("last_debug", {}), dreamer.sample_rate)
        print(f"{args.plot}: spectrograms of input, output, gradient and mask")
    print(f"{args.output}: {seconds:.2f} s dreamed in {stats.seconds:.1f} s "
          f"({seconds / max(stats.seconds, 1e-9):.1f}x real time) on {dreamer.device_type} ({dreamer.backend_name})")
    return 0


def _cluster(address: str | None, log):
    """A connected :class:`RayCluster` for ``--ray ADDRESS``, else a no-op context (``None``)."""
    import contextlib

    if not address:
        return contextlib.nullcontext()
    from dreambridge.bridge.io.cluster import RayCluster

    return RayCluster(address, log=log)


def _preset_file(preset: str):
    """The file a ``--preset`` value reads (a factory name or a path), so it is never an output."""
    return load_preset(preset).path


def cmd_batch(args) -> int:
    from pathlib import Path

    from dreambridge.bridge.io.batch import BatchSettings, run_batch

    if bool(args.automation) != bool(args.midi_map):
        raise ParameterError("--automation FILE.mid and --midi-map MAP.toml go together")
    if args.jobs < 1:
        raise ParameterError(f"--jobs {args.jobs} must be 1 or more")
    from dreambridge.bridge.engine.schedule import resolve

    resolve(args.preset, args.sets, seed=args.seed)  # fail fast on bad parameters
    if args.threads is not None and args.threads < 1:
        raise ParameterError(f"--threads {args.threads} must be 1 or more")
    settings = BatchSettings(args.preset, args.sets, args.model, args.backend, args.device, args.seed, args.subtype,
                             args.automation, args.midi_map, threads=args.threads)
    if args.ray and args.jobs > 1:
        raise ParameterError("--jobs and --ray do not go together: a cluster runs one job per CPU of every node")
    log = (lambda s: print(s, file=sys.stderr))
    with _cluster(args.ray, log) as cluster:
        summary = run_batch(args.inputs, Path(args.output), args.filename, settings, jobs=args.jobs, resume=args.resume,
                            overwrite=args.overwrite, progress=not args.quiet and not args.json, log=log,
                            executor=cluster.batch if cluster else None)
        if cluster:
            summary["cluster"] = cluster.report()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(
            f"batch: {len(summary['ok'])} dreamed, {len(summary['skipped'])} already done, {len(summary['failed'])} "
            "failed"
            f" ({summary['audio_seconds']:.1f} s of audio at {summary['x_realtime']:.1f}x real time)"
        )
        from dreambridge.bridge.io.batch import describe_failure

        for failure in summary["failed"]:
            print(f"  failed: {describe_failure(failure)}")
    return 1 if summary["failed"] else 0


def cmd_live(args) -> int:
    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.engine.schedule import resolve
    from dreambridge.bridge.live.devices import run_live
    from dreambridge.bridge.live.fx import build_chains
    from dreambridge.bridge.live.midi import LiveControl, check_fx_targets, open_input
    from dreambridge.presets.loader import PRESET_DIR
    from dreambridge.presets.midimap import load_midi_map

    resolved = resolve(args.preset, args.sets, seed=args.seed)
    params = resolved.params
    midi_map = load_midi_map(args.midi_map or PRESET_DIR / "midi" / "8-knob.toml")
    pre, post = build_chains(resolved.preset, resolved.fx)
    check_fx_targets(midi_map, {"pre": pre, "post": post})
    dreamer = Dreamer(args.model, params, device=args.device, backend=args.backend)
    control = LiveControl(midi_map, params)
    midi_in = osc = None
    if args.osc_port is not None:
        from dreambridge.bridge.live.osc import OscControl

        osc = OscControl(args.osc_port, control.set_param)
    try:
        if args.midi_in or args.virtual_midi:
            midi_in = open_input(args.midi_in, args.virtual_midi, control.handle)
        result = run_live(dreamer, control, input_device=args.input, output_device=args.output,
                          block_size=args.block_size, channels=args.channels, sample_rate=args.sample_rate,
                          mode=args.mode, loop_seconds=args.loop_seconds, pre_fx=pre, post_fx=post,
                          duration=args.duration, allow_slow=args.allow_slow, midi_in=midi_in)
    finally:
        if osc is not None:
            osc.close()
    if osc is not None:
        result.update(osc_messages=osc.n_messages, osc_malformed=osc.n_malformed)
    print(json.dumps(result), file=sys.stderr)
    return 0


def cmd_serve(args) -> int:
    import os

    import torch

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.engine.schedule import resolve
    from dreambridge.bridge.live.serve import check_socket_free, default_socket_path, run_serve

    params = resolve(args.preset, args.sets, seed=args.seed).params
    if args.duration is not None and args.duration <= 0:
        raise ParameterError(f"--duration {args.duration:g} must be above 0 seconds")
    socket_path = args.socket or default_socket_path()
    check_socket_free(socket_path)  # before the model loads: a second engine says so at once
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave a core to the hosts' audio threads
    dreamer = Dreamer(args.model, params, device=args.device, backend=args.backend)
    result = run_serve(dreamer, socket_path, margin_ms=args.margin_ms,
                       osc_port=args.osc_port, duration=args.duration)
    print(json.dumps(result), file=sys.stderr)
    return 0


def cmd_plugin(args) -> int:
    from dreambridge.bridge.live.plugin import build_plugin, install_plugin

    if args.action == "build":
        if args.output is None:
            raise ParameterError("plugin build needs -o DIR (the folder for dreambridge.vst3, .clap and .lv2)")
        built = build_plugin(args.output, overwrite=args.overwrite, log=sys.stderr if args.verbose else None)
    else:
        built = install_plugin(args.output)
    for fmt, path in built.items():
        print(f"{fmt}: {path}")
    return 0


def cmd_devices(args) -> int:
    from dreambridge.bridge.live.devices import list_devices
    from dreambridge.bridge.live.midi import list_ports

    devices = list_devices()
    try:
        ports = list_ports()
    except Exception as exc:  # MIDI may be missing while audio works
        ports = {"inputs": [], "outputs": [], "error": str(exc)}
    if args.json:
        print(json.dumps({"audio": devices, "midi": ports}, indent=1))
        return 0
    print("audio devices:")
    for d in devices:
        print(f"  {d['index']:2d} {d['name']} [{d['host_api']}] in {d['inputs']} out {d['outputs']} "
              f"@ {d['default_sample_rate']:.0f} Hz")
    if not devices:
        print("  none found")
    print("MIDI inputs: " + (", ".join(ports["inputs"]) or "none"))
    print("MIDI outputs: " + (", ".join(ports["outputs"]) or "none"))
    if "error" in ports:
        print(f"  ({ports['error']})")
    return 0


def cmd_midi(args) -> int:
    from dreambridge.bridge.live.midi import learn

    entry = learn(args.param, args.map, args.midi_in, args.virtual_midi, args.timeout)
    print(f"{args.map}: CC {entry['cc']} on channel {entry['channel']} -> {entry['param']}")
    return 0


def cmd_analyze(args) -> int:
    from dreambridge.bridge.lab.analysis import analyze_file, compare_files, format_comparison
    from dreambridge.models.zoo import describe

    if args.compare:
        if len(args.files) != 2:
            raise ParameterError("--compare takes exactly two files: IN OUT")
        card = describe(args.model)
        n_layers = len(card["architecture"]["layers"])
        if not -1 <= args.layer < n_layers:
            raise ParameterError(f"--layer {args.layer} is outside -1..{n_layers - 1} "
                                 f"({args.model} has {n_layers} layers)")
        result = compare_files(*args.files, card, None if args.layer < 0 else args.layer + 1)
        result["files"] = [analyze_file(f) for f in args.files]
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print(format_comparison(result))
        return 0
    card = describe(args.model)
    results = [analyze_file(f, card) for f in args.files]
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=1))
        return 0
    for r in results:
        print(f"{r['file']}: {r['seconds']:.2f} s, {r['channels']} ch, {r['sample_rate']} Hz")
        for name, label in (("rms", "RMS (loudness)"), ("centroid_hz", "centroid Hz (brightness)"),
                            ("flatness", "flatness (noisiness)"), ("flatness_inband", "flatness 40 Hz-8 kHz"),
                            ("flux", "flux (roughness)")):
            print(f"  {label:26s} mean {r[name + '_mean']:10.4f}  std {r[name + '_std']:10.4f}")
        print(f"  {'DC share (< 20 Hz)':26s} {r['dc_share'] * 100:9.2f} %")
        combs = ", ".join(f"L{i} {c * 100:.1f}%" for i, c in enumerate(r["comb_share"]))
        print(
            f"  comb share per layer grid  {combs}  (chance L0 {r['comb_chance'][0] * 100:.2f}%, L2 "
            f"{r['comb_chance'][2] * 100:.1f}%)"
        )
    return 0


def _atlas_dreamer(model: str, device: str, random_weights: bool):
    from dreambridge.bridge.engine.dreamer import Dreamer

    if not random_weights:
        return Dreamer(model, DreamParams(), device=device)
    import torch

    from dreambridge.models.factory import build_model
    from dreambridge.models.zoo import describe

    card = describe(model)
    arch = card["architecture"]
    torch.manual_seed(0)
    net = build_model(arch["arch"], arch["n_classes"], arch["sample_rate"]).eval()
    return Dreamer(
        (net, {"name": f"{card.get('name', model)} (random weights, seed 0)", "class_names": card["class_names"]}),
        DreamParams(),
        device=device,
    )


def cmd_atlas(args) -> int:
    from tqdm import tqdm

    from dreambridge.bridge.lab.atlas import run_atlas

    _check_output_dir(args.output)
    dreamer = _atlas_dreamer(args.model, args.device, args.random_weights)
    layers = args.layers if args.layers else list(range(len(dreamer.layer_channels)))
    for layer in layers:
        if not 0 <= layer < len(dreamer.layer_channels):
            raise ParameterError(f"--layers {layer} is outside 0..{len(dreamer.layer_channels) - 1}")
    total = sum(
        len([m for m in args.maps if m < dreamer.layer_channels[l]]) if args.maps else dreamer.layer_channels[l]
        for l in layers
    )
    if total == 0 or any(m < 0 for m in args.maps or []):
        widest = max(dreamer.layer_channels[l] for l in layers)
        raise ParameterError(f"--maps {' '.join(map(str, args.maps))} selects no feature map; these layers have maps "
                             f"0..{widest - 1}")
    if args.iterations < 1 or not 0 < args.seconds <= 600:
        raise ParameterError("--iterations must be 1 or more and --seconds above 0 and at most 600")
    if args.ray and args.jobs > 1:
        raise ParameterError("--jobs and --ray do not go together: a cluster runs one map per CPU of every node")
    with _cluster(args.ray, lambda s: print(s, file=sys.stderr)) as cluster, \
            tqdm(total=total, desc="atlas", unit="map", disable=args.quiet) as bar:
        spec = (dreamer.model, dreamer.card) if args.random_weights else args.model
        atlas = run_atlas(dreamer, args.output, layers, args.maps, args.iterations, args.seconds, args.seed,
                          progress=bar.update, jobs=max(1, args.jobs), model_spec=spec,
                          executor=cluster.atlas if cluster else None)
    print(f"{args.output}/index.html: {len(atlas['maps'])} maps (numbers in atlas.json)")
    return 0


def _check_output_dir(path) -> None:
    """An output folder: absent (created later) or a folder, never a file."""
    import os

    if os.path.exists(path) and not os.path.isdir(path):
        raise ParameterError(f"-o {path} is a file; give a folder (it will be created)")


def cmd_sweep(args) -> int:
    from tqdm import tqdm

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.lab.atlas import run_sweep

    values = [schema.coerce(args.param, schema.parse_text(args.param, v)) for v in args.values]
    for value in values:
        DreamParams().replace(**{args.param: value})  # validates every value first
    _check_output_dir(args.output)
    dreamer = Dreamer(args.model, DreamParams(), device=args.device)
    with tqdm(total=len(values), desc=f"sweep {args.param}", disable=args.quiet) as bar:
        run_sweep(dreamer, args.param, values, args.output, args.layer, args.channel, args.iterations, args.seconds,
                  progress=bar.update)
    print(f"{args.output}/sweep_{args.param}.png and .json")
    return 0


def cmd_report(args) -> int:
    from tqdm import tqdm

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.lab.report import artefact_report, format_artefact_report

    if args.kind == "noise":
        return _report_noise(args)
    args.maps = 6 if args.maps is None else args.maps
    args.iterations = 100 if args.iterations is None else args.iterations
    if args.kind == "stems":
        from dreambridge.bridge.lab.report import format_stem_report, stem_report

        if not args.stems:
            raise ParameterError("report stems needs --stems DIR (build one with: dreambridge data stems DIR)")
        with tqdm(desc="stems", disable=args.json) as bar:
            result = stem_report(args.model, args.presets, args.stems, args.device, progress=bar.update,
                                 knob_stems=args.knobs)
        print(json.dumps(result, indent=1) if args.json else format_stem_report(result))
        return 0
    if args.kind == "variety":
        from dreambridge.bridge.lab.report import format_variety, variety_report
        from dreambridge.models.zoo import list_models

        models = args.models or list_models()
        with tqdm(desc="variety", disable=args.json) as bar:
            result = variety_report(models, args.maps, args.iterations, args.seconds, args.seed, device=args.device,
                                    progress=bar.update)
        print(json.dumps(result, indent=1) if args.json else format_variety(result))
        return 0
    if args.kind == "table11":
        from dreambridge.bridge.lab.table11 import (TABLE11, cutoff_loudness, format_cutoff_loudness, format_table11,
                                                    table11_report)

        unknown = sorted(set(args.params or []) - set(TABLE11))
        if unknown:
            raise ParameterError(f"--params {unknown[0]} is not a Table 11 run; choose from {', '.join(TABLE11)}")
        if not 1 <= args.step_seconds <= 600:
            raise ParameterError(f"--step-seconds {args.step_seconds:g} is outside 1..600")
        bad_seeds = [s for s in args.seeds if not 0 <= s < 2**31]
        if bad_seeds:
            raise ParameterError(f"--seeds {bad_seeds[0]} is outside 0..2**31-1; give non-negative noise seeds")
        dreamer = Dreamer(args.model, DreamParams(), device=args.device)
        loudness = "lowpass_hz" in (args.params or TABLE11)
        n_runs = 1 + len(args.params or TABLE11) + (len(args.seeds) if loudness else 0)
        with tqdm(total=n_runs, desc="table11", disable=args.json) as bar:
            result = table11_report(dreamer, args.params, args.step_seconds, args.seed, progress=bar.update)
            if loudness:
                result["cutoff_loudness"] = cutoff_loudness(dreamer, args.seeds, args.step_seconds,
                                                            min(10.0, args.step_seconds), progress=bar.update)
        text = format_table11(result)
        if loudness:
            text += "\n\n" + format_cutoff_loudness(result["cutoff_loudness"])
        print(json.dumps(result, indent=1) if args.json else text)
        return 0
    dreamer = Dreamer(args.model, DreamParams(), device=args.device)
    if args.kind == "findings":
        from dreambridge.bridge.lab.report import findings_report, format_findings

        if not args.output:
            raise ParameterError("report findings needs -o DIR for its atlases and sweeps")
        random = _atlas_dreamer(args.model, args.device, True)
        with tqdm(desc="findings", disable=args.json) as bar:
            found = findings_report(
                dreamer, random, args.output, args.maps, args.iterations, args.seconds, progress=bar.update
            )
        print(json.dumps(found, indent=1) if args.json else format_findings(found))
        return 0
    n_layers = len(args.layers) if args.layers else len(dreamer.layer_channels)
    with tqdm(total=2 * n_layers * args.maps, desc="report", disable=args.json) as bar:
        report = artefact_report(
            dreamer, args.maps, args.iterations, args.seconds, layers=args.layers, progress=bar.update
        )
    print(json.dumps(report, indent=1) if args.json else format_artefact_report(report))
    return 0


def _report_noise(args) -> int:
    from tqdm import tqdm

    from dreambridge.bridge.engine.dreamer import Dreamer
    from dreambridge.bridge.lab.atlas import ATLAS_ITERATIONS
    from dreambridge.bridge.lab.noise import PULSE_LAYERS, PULSE_MAPS, format_noise_report, noise_report

    n_maps = 32 if args.maps is None else args.maps
    iterations = ATLAS_ITERATIONS if args.iterations is None else args.iterations
    if n_maps < 2 or iterations < 1 or not 0 < args.seconds <= 600:
        raise ParameterError(f"report noise needs --maps >= 2 (got {n_maps}), --iterations >= 1 (got {iterations}) "
                             f"and 0 < --seconds <= 600 (got {args.seconds:g})")
    dreamer = Dreamer(args.model, DreamParams(), device=args.device)
    layers = PULSE_LAYERS if args.layers is None else args.layers
    bad = [la for la in layers if not 0 <= la < len(dreamer.layer_channels)]
    if bad:
        raise ParameterError(f"--layers {bad[0]} is not a layer of this model (0..{len(dreamer.layer_channels) - 1})")
    total = 2 * (min(n_maps, dreamer.layer_channels[0]) + len(layers) * len(PULSE_MAPS))
    with tqdm(total=total, desc="noise", disable=args.json) as bar:
        result = noise_report(dreamer, n_maps, iterations, args.seconds, args.seed, layers, progress=bar.update)
    print(json.dumps(result, indent=1) if args.json else format_noise_report(result))
    return 0


def cmd_style(args) -> int:
    from tqdm import tqdm

    from dreambridge.bridge.io.audio import check_output_path, output_format, probe, read_audio, write_audio
    from dreambridge.bridge.lab.style import match_content, style_transfer
    from dreambridge.dsp.resample import resample

    info = probe(args.content)
    probe(args.style)
    output_format(args.output, info, None)
    check_output_path(args.output, args.overwrite, [args.content, args.style])
    # style's own optimiser settings are dream parameters too: the schema checks them
    iterations, learning_rate, seed = (schema.coerce(name, getattr(args, name))
                                       for name in ("iterations", "learning_rate", "seed"))
    if iterations < 1:
        raise ParameterError(f"--iterations {iterations} must be 1 or more")
    if args.plot is not None:
        if not args.plot.lower().endswith(".png"):
            raise ParameterError(f"--plot {args.plot} must be a .png file")
        check_output_path(args.plot, args.overwrite, [args.content, args.style, args.output])
    if not 0 <= args.style_weight <= 1e6:  # NaN fails both comparisons
        raise ParameterError(f"--style-weight {args.style_weight:g} must be a number from 0 to 1e6")
    if not learning_rate > 0:
        raise ParameterError(f"--learning-rate {learning_rate:g} must be above 0 (at most 10)")
    model, rate = None, 44100
    if args.method == "net":
        from dreambridge.models.zoo import load_model

        model, _ = load_model(args.model)
        rate = model.sample_rate
        for layer in [args.content_layer, *args.style_layers]:
            if not 0 <= layer < model.n_layers:
                raise ParameterError(f"layer {layer} is outside 0..{model.n_layers - 1} for this model")
    content, content_rate = read_audio(args.content)
    style, style_rate = read_audio(args.style)
    c = resample(content, content_rate, rate)  # every channel one item of the batch: stereo stays stereo
    s = resample(style.mean(axis=0), style_rate, rate)
    with tqdm(total=iterations, desc=f"style ({args.method})", disable=args.quiet) as bar:
        out, history = style_transfer(c, s, model, args.method, args.content_layer, tuple(args.style_layers),
                                      args.style_weight, iterations, learning_rate, seed,
                                      callback=lambda i, h: (bar.update(), bar.set_postfix(
                                          content=f"{h['content']:.3f}", style=f"{h['style']:.3f}")),
                                      init=args.init)
    out = resample(out, rate, content_rate)[:, : content.shape[1]]
    out = np.pad(out, ((0, 0), (0, content.shape[1] - out.shape[1])))
    out = match_content(out, content, content_rate)
    write_audio(args.output, out, content_rate, info.subtype if info.format == output_format(args.output)[0] else None)
    if args.plot:
        from dreambridge.bridge.lab.plots import plot_panels

        plot_panels(args.plot, [("content", content.mean(axis=0), content_rate, "audio"),
                                ("style", style.mean(axis=0), style_rate, "audio"),
                                ("output", out.mean(axis=0), content_rate, "audio")])
    print(f"{args.output}: content loss {history[0]['content']:.3f} -> {history[-1]['content']:.3f}, "
          f"style loss {history[0]['style']:.3f} -> {history[-1]['style']:.3f} ({args.method})")
    return 0


def cmd_presets(args) -> int:
    from dreambridge.presets import PARAM_DOCS, list_presets

    if args.action == "list":
        for name in list_presets():
            print(f"{name:20s} {load_preset(name).description}")
        return 0
    if not args.name:
        raise ParameterError("presets show needs a NAME (see 'dreambridge presets list')")
    preset = load_preset(args.name)
    print(f"# {preset.name}: {preset.description}\n# file: {preset.path}")
    defaults = DreamParams()
    for key, value in preset.params.to_dict().items():
        mark = "" if value == getattr(defaults, key) else "   # set by the preset"
        print(f"{key} = {json.dumps(value)}   # {PARAM_DOCS[key][0]}{mark}")
    return 0


def cmd_models(args) -> int:
    from dreambridge.models.zoo import default_model_name, describe, list_models

    if args.action == "import":
        return _import_model(args)
    if args.action == "list":
        from dreambridge.presets.errors import DreamError

        default = default_model_name()
        print(f"{'name':28s} {'arch':11s} {'classes':>7s} {'test acc':>8s} {'rate':>6s} {'params':>9s} {'size':>8s}")
        broken = 0
        for name in list_models():
            try:
                card = describe(name)
            except DreamError as exc:
                broken += 1
                print(f"dreambridge models: skipped {name}: {exc}", file=sys.stderr)
                continue
            acc = card.get("test_accuracy")
            size = _dir_size(name)
            print(f"{name + (' (default)' if name == default else ''):28s} {card['architecture']['arch']:11s} "
                  f"{len(card['class_names']):7d} {'-' if acc is None else f'{acc * 100:.1f}%':>8s} "
                  f"{card['architecture']['sample_rate']:6d} {card.get('n_parameters', 0):9d} {size / 1e6:6.1f}MB")
        return 1 if broken else 0
    card = describe(args.name or "default")
    card = {k: v for k, v in card.items() if k != "training"} | {
        "training": {k: v for k, v in card.get("training", {}).items() if k != "history"}
    }
    print(json.dumps(card, indent=2))
    return 0


def _dir_size(name: str) -> int:
    from dreambridge.models.zoo import resolve_model_dir

    return sum(p.stat().st_size for p in resolve_model_dir(name).iterdir() if p.is_file())


def _import_model(args) -> int:
    from pathlib import Path

    from dreambridge.models.zoo import import_crepe, user_models_dir
    from dreambridge.presets.errors import ModelLoadError

    if not args.name:
        raise ModelLoadError("name the model to import: dreambridge models import crepe-tiny (or crepe-full)")
    out = Path(args.output) if args.output else user_models_dir() / args.name
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise ModelLoadError(f"{out} already exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    card = import_crepe(args.name, out, args.source)
    print(f"{args.name}: {card['n_parameters']} parameters, sha256 {card['weights_sha256'][:12]}... -> {out}")
    return 0


def cmd_data(args) -> int:
    import os

    from dreambridge.models.datasets.instruments import build_instruments
    from dreambridge.models.datasets.stems import build_stems
    from dreambridge.presets.errors import DreamError

    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        raise DreamError(f"{args.out_dir} is a file; give a folder for the {args.set} set")
    if args.set == "stems":
        build_stems(args.out_dir)
        return 0
    if args.set == "events":
        from dreambridge.models.datasets.events import build_events

        build_events(args.out_dir)
        return 0
    if args.set == "speech":
        from dreambridge.models.datasets.speech import build_speech

        build_speech(args.out_dir)
        return 0
    manifest = build_instruments(args.out_dir)
    print(f"{args.set}: {manifest['n_files']} files, {manifest['n_classes']} classes, "
          f"{manifest['total_seconds'] / 60:.1f} min -> {args.out_dir}")
    return 0


def command_line(argv: list[str]) -> str:
    """The exact command, for model cards and reports."""
    return "dreambridge " + " ".join(shlex.quote(a) for a in argv)


def cmd_train(args) -> int:
    from dreambridge.models.train import train

    # The card records the command that reproduces the model from scratch (a resumed run
    # with the same arguments follows the same trajectory), not the --resume invocation.
    canonical = ["train", args.dataset_dir, "-o", args.output, "--arch", args.arch, "--epochs", str(args.epochs),
                 "--lr-step", str(args.lr_step or max(1, args.epochs // 2)), "--batch-size", str(args.batch_size),
                 "--seed", str(args.seed)]
    card = train(args.dataset_dir, args.output, arch=args.arch, epochs=args.epochs, lr_step_epochs=args.lr_step,
                 batch_size=args.batch_size, seed=args.seed, resume=args.resume, command=command_line(canonical),
                 progress=not args.quiet)
    print(f"{card['architecture']['arch']}: test accuracy {card['test_accuracy']:.3f} -> {args.output}")
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from dreambridge.presets.errors import ExportError

    out = Path(args.output)
    if out.suffix != ".onnx":
        raise ExportError(f"output {out} must end in .onnx")
    if out.is_dir():
        raise ExportError(f"output {out} is a folder; give a file name ending in .onnx")
    if out.exists() and not args.overwrite:
        raise ExportError(f"output {out} already exists; pass --overwrite to replace it")
    if not out.parent.exists():
        raise ExportError(f"output folder {out.parent} does not exist; create it first")
    from dreambridge.export.onnx_export import export_classifier, export_dream_step
    from dreambridge.models.zoo import load_model

    model, card = load_model(args.model)
    report = (export_dream_step if args.dream_step else export_classifier)(model, card, out)
    print(f"{out}: {report['kind']} of {card.get('name', args.model)}, max relative error vs torch "
          f"{report['max_relative_error']:.1e} over {len(report['checks'])} checks (report: "
          f"{report['validation_report']})")
    return 0


def _layer_list(text: str, option: str) -> list[int]:
    """``"1,3"`` -> ``[1, 3]``; ``"none"`` -> ``[]``."""
    if text.strip() == "none":
        return []
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"{option} {text!r} must be all, none or layer numbers like 1,3") from None


def cmd_bench(args) -> int:
    if args.startup or args.gpu or args.neighbours is not None:
        return _process_bench(args)
    from dreambridge.bridge.lab.bench import format_report, run_bench

    if args.repeats < 1 or args.repeats > 1000:
        raise ParameterError(f"--repeats {args.repeats} must be 1..1000")
    if not 0.05 <= args.seconds <= 60:  # NaN fails the comparison too
        raise ParameterError(f"--seconds {args.seconds:g} must be a number from 0.05 to 60")
    if not 0 <= args.render_seconds <= 3600:
        raise ParameterError(f"--render-seconds {args.render_seconds:g} must be a number from 0 to 3600")
    if args.batch is not None and not 1 <= args.batch <= 256:
        raise ParameterError(f"--batch {args.batch} must be 1..256")
    layers = None if args.layers == "all" else _layer_list(args.layers, "--layers")
    render_layers = None if args.render_layers is None else _layer_list(args.render_layers, "--render-layers")
    report = run_bench(model=args.model, preset=args.preset, seconds=args.seconds, repeats=args.repeats,
                       layers=layers, render_seconds=args.render_seconds, render_layers=render_layers,
                       batch_size=args.batch)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
    return 0


def _process_bench(args) -> int:
    """``bench --startup`` / ``--gpu`` / ``--neighbours N``: whole-process figures (``lab.procbench``)."""
    from dreambridge.bridge.lab import procbench

    repeats = args.repeats if args.repeats != 5 else 3  # 5 is the step bench's default; 3 whole processes here
    if not 1 <= repeats <= 100:
        raise ParameterError(f"--repeats {args.repeats} must be 1..100")
    report = {}
    if args.startup:
        report["startup"] = procbench.startup_figures(args.model, args.preset, repeats=repeats)
    if args.gpu:
        seconds = args.seconds if args.seconds != 1.0 else 60.0
        if not 0.05 <= seconds <= 3600:
            raise ParameterError(f"--seconds {seconds:g} must be a number from 0.05 to 3600")
        report["gpu"] = procbench.gpu_figures(args.model, args.preset, seconds, repeats)
    if args.neighbours is not None:
        if not 0 <= args.neighbours <= 64:
            raise ParameterError(f"--neighbours {args.neighbours} must be 0..64 busy processes")
        seconds = args.seconds if args.seconds != 1.0 else 10.0
        if not 0.05 <= seconds <= 600:
            raise ParameterError(f"--seconds {seconds:g} must be a number from 0.05 to 600")
        report["neighbours"] = procbench.neighbours_figures(args.model, args.preset, seconds, repeats,
                                                            args.neighbours)
    if args.json:
        print(json.dumps(report))
    else:
        if "startup" in report:
            print(procbench.format_startup(report["startup"]))
        if "gpu" in report:
            print(procbench.format_gpu(report["gpu"]))
        if "neighbours" in report:
            print(procbench.format_neighbours(report["neighbours"]))
    return 0
