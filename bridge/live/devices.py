"""``dreambridge live``: audio in -> dream -> audio out, through sounddevice (PortAudio:
CoreAudio, WASAPI/ASIO, JACK, ALSA), with MIDI control and effect chains.

The audio callback only moves buffers (``DreamStream.process``) and runs the pedalboard
chains; it never raises: an error gives a block of silence and is counted, and the
control thread reports it. The control thread prints the latency once, then a status
line (worker load, lag, dropouts, key parameters) until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from dreambridge.presets.errors import DeviceError, first_line

__all__ = ["list_devices", "run_live"]


def _sd():
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise DeviceError(f"sounddevice/PortAudio is not available ({first_line(exc)}); pip install sounddevice "
                          "and install PortAudio (Debian: apt-get install libportaudio2)") from None
    return sd


def list_devices() -> list[dict]:
    sd = _sd()
    apis = sd.query_hostapis()
    out = []
    for i, dev in enumerate(sd.query_devices()):
        out.append({"index": i, "name": dev["name"], "host_api": apis[dev["hostapi"]]["name"],
                    "inputs": dev["max_input_channels"], "outputs": dev["max_output_channels"],
                    "default_sample_rate": dev["default_samplerate"]})
    return out


def _device(sd, spec, kind: str):
    if spec is None:
        return None
    try:
        return int(spec)
    except ValueError:
        pass
    try:
        sd.query_devices(spec, kind)
    except Exception as exc:
        names = ", ".join(d["name"] for d in sd.query_devices())
        raise DeviceError(
            f"audio {kind} device {spec!r} not found ({first_line(exc)}); devices: {names or 'none'}"
        ) from None
    return spec


def run_live(
    dreamer,
    control,
    *,
    input_device=None,
    output_device=None,
    block_size: int = 512,
    channels: int | None = None,
    sample_rate: int | None = None,
    mode: str = "effect",
    loop_seconds: float | None = None,
    pre_fx=None,
    post_fx=None,
    duration: float | None = None,
    allow_slow: bool = False,
    midi_in=None,
    out=sys.stdout,
) -> dict:
    """Run until Ctrl-C/SIGTERM or ``duration`` seconds; return the final counters."""
    import os

    import torch

    from dreambridge.bridge.live.fx import apply_fx_values
    from dreambridge.bridge.live.stream import DreamStream

    # Leave a core to the audio thread: the worker's gradient ascent must not starve the callback.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    sd = _sd()
    input_device = _device(sd, input_device, "input")
    output_device = _device(sd, output_device, "output")
    in_info = sd.query_devices(input_device, "input")
    out_info = sd.query_devices(output_device, "output")
    channels = channels or max(1, min(2, in_info["max_input_channels"], out_info["max_output_channels"]))
    sample_rate = int(sample_rate or out_info["default_samplerate"])
    stream = DreamStream(dreamer, sample_rate, channels, realtime=True, mode=mode, loop_seconds=loop_seconds,
                            params_at=control.params_now, pre_fx=pre_fx, post_fx=post_fx)
    per_excerpt, hop, ok = stream.check_realtime()
    if not ok and not allow_slow and stream.round_robin:
        stream.close()
        p = control.params_now()
        raise DeviceError(
            f"this machine dreams one {p.excerpt_seconds:g} s excerpt in {per_excerpt:.2f} s at {p.iterations} "
            f"iterations, but the round-robin pace of {p.excerpts_per_second:g} excerpts/s allows {0.8 * hop:.2f} s; "
            f"lower the pace (--set excerpts_per_second={max(0.1, 0.8 / per_excerpt):.2f}) or iterations, or pass "
            "--allow-slow to hear the dream evolve late"
        )
    if not ok and not allow_slow:
        stream.close()
        p = control.params_now()
        raise DeviceError(
            f"this machine dreams one {p.excerpt_seconds:g} s excerpt in {per_excerpt:.2f} s at {p.iterations} "
            "iterations, "
            f"but real time allows {0.8 * hop:.2f} s; lower iterations (--set "
            f"iterations={max(1, int(p.iterations * 0.8 * hop / per_excerpt))}) "
            "or raise excerpt_seconds, or pass --allow-slow to accept dropouts"
        )
    chains = {"pre": pre_fx, "post": post_fx}
    xruns = [0]

    def callback(indata, outdata, frames, time_info, status):
        try:
            if status:
                xruns[0] += 1
            if chains["pre"] is not None or chains["post"] is not None:
                values = control.fx_now()
                if values:
                    apply_fx_values(values, chains)
            outdata[:] = stream.process(indata.T).T
        except Exception:
            stream.stats.callback_errors += 1
            outdata.fill(0)

    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())
    t0 = time.monotonic()
    device_samples = 0
    try:
        with sd.Stream(device=(input_device, output_device), samplerate=sample_rate, blocksize=block_size,
                       channels=channels, dtype="float32", callback=callback) as audio:
            device_samples = int(round(sum(audio.latency) * sample_rate))
            total = stream.latency_samples + device_samples
            print(f"latency: {total} samples ({1000 * total / sample_rate:.1f} ms) at {sample_rate} Hz "
                  f"(dream {stream.latency_samples} + audio device {device_samples}) "
                  f"- type it into your DAW's delay compensation", file=out, flush=True)
            what = "round-robin pace" if stream.round_robin else "hop"
            print(f"dreaming {channels} channel(s), {mode} mode, block {block_size}; one excerpt takes "
                  f"{per_excerpt * 1000:.0f} ms of a {hop * 1000:.0f} ms {what}. Ctrl-C stops.", file=out, flush=True)
            while not stop.is_set():
                stop.wait(0.5)
                st, p = stream.stats, control.params_now()
                lag = 0 if stream.round_robin else stream.lag_excerpts
                print(f"\rload {100 * st.load():4.0f}% | lag {lag} excerpts | dropouts {st.dropout_events} "
                      f"({st.dropout_samples} samples) | xruns {xruns[0]} | layer {p.layer} ch {p.channel} "
                      f"it {p.iterations} lowpass {p.lowpass_hz:.0f} mix {p.mix:.2f} | midi {control.n_messages}   ",
                      end="", file=out, flush=True)
                if stream.error() is not None:
                    raise DeviceError(f"the dream worker stopped: {first_line(stream.error())}")
                if duration is not None and time.monotonic() - t0 >= duration:
                    break
    except sd.PortAudioError as exc:
        raise DeviceError(
            f"cannot open the audio stream ({first_line(exc)}); check --input/--output with 'dreambridge devices'"
        ) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        stream.close()
        if midi_in is not None:
            midi_in.close()
        print(file=out, flush=True)
    st = stream.stats
    return {
        "latency_samples": stream.latency_samples,
        "device_latency_samples": device_samples,
        "sample_rate": sample_rate,
        "dropout_events": st.dropout_events,
        "dropout_samples": st.dropout_samples,
        "xruns": xruns[0],
        "excerpts": st.excerpts_dreamed,
        "callback_errors": st.callback_errors,
        "midi_messages": control.n_messages,
        # the start-up check's estimate beside what the worker then measured, per excerpt dreamed
        "check_seconds_per_excerpt": per_excerpt,
        "measured_seconds_per_excerpt": st.busy_seconds / st.excerpts_dreamed if st.excerpts_dreamed else None,
        "budget_seconds_per_excerpt": hop,
    }


