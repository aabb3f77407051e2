"""bridge/live/stream.py: streaming through the same Dreamer: block-size invariance, offline
equality, clicks, loop mode, effect chains and automation live and offline."""

import os

import numpy as np
import pytest
from signals import SR, music_like, write

from dreambridge.bridge.engine.dreamer import Dreamer
from dreambridge.bridge.io.files import dream_file
from dreambridge.bridge.live.stream import DreamStream
from dreambridge.presets import DreamParams, ParameterError, load_preset
from dreambridge.presets.midimap import load_midi_map

FAST = DreamParams(iterations=2, learning_rate=0.3, excerpt_seconds=0.25, crossfade_seconds=0.03)
ZAM = "/usr/lib/vst3/ZamCompX2.vst3"


def _stream(dreamer, audio, block, **kwargs):
    stream = DreamStream(dreamer, SR, audio.shape[0], realtime=False, **kwargs)
    padded = np.concatenate([audio, np.zeros((audio.shape[0], stream.latency_samples + block), np.float32)], axis=1)
    out = np.concatenate([stream.process(padded[:, i : i + block]) for i in range(0, padded.shape[1], block)], axis=1)
    stream.close()
    return out[:, stream.latency_samples : stream.latency_samples + audio.shape[1]]


def _blocks(dreamer, audio, block):
    """``Dreamer.process(..., reset=False)`` block by block (the scheduler in the caller's thread)."""
    dreamer.reset()
    dreamer.process(audio[:, :0], SR, reset=False)
    latency = dreamer.latency_samples
    padded = np.concatenate([audio, np.zeros((audio.shape[0], latency + block), np.float32)], axis=1)
    out = np.concatenate([dreamer.process(padded[:, i : i + block], SR, reset=False)
                          for i in range(0, padded.shape[1], block)], axis=1)
    dreamer.reset()
    return out[:, latency : latency + audio.shape[1]]


@pytest.mark.parametrize("n_channels", [1, 2])
def test_stream_equals_offline_for_every_block_size(tiny_model, rng, n_channels):
    audio = music_like(rng, 0.8, n_channels=n_channels)
    # batch_size=1: offline dreams one excerpt per call like the stream's worker, so the
    # same grid, seeds and crossfades give identical samples, not merely close ones.
    dreamer = Dreamer(tiny_model, FAST, device="cpu", batch_size=n_channels)
    offline = dreamer.process(audio, SR)
    for block in (1, 64, 65, 512, 8193):
        assert np.array_equal(_stream(dreamer, audio, block), offline), block  # live's worker thread
        assert np.array_equal(_blocks(dreamer, audio, block), offline), block  # the engine's BlockStream
    # With the default batching, convolutions sum in another order: float32 rounding only.
    batched = Dreamer(tiny_model, FAST, device="cpu").process(audio, SR)
    assert np.abs(batched - offline).max() < 1e-5


def test_no_clicks_at_excerpt_or_block_boundaries(model_default, rng):
    audio = music_like(rng, 3.0) * 0.9
    dreamer = Dreamer(model_default, DreamParams(iterations=6, excerpt_seconds=0.5, crossfade_seconds=0.05), device="cpu")
    out = _stream(dreamer, audio, 512)
    step_out = np.max(np.abs(np.diff(out[0])))
    step_dry = np.max(np.abs(np.diff(audio[0])))
    # The dream adds content up to 12 kHz, so its own steps may exceed the tonal input's a
    # little; a click (a jump between unrelated excerpts) would be ~10x larger.
    assert step_out <= step_dry + 0.1, (step_out, step_dry)
    hop = int(0.45 * SR)
    seams = np.concatenate([np.arange(k * hop - 5, k * hop + int(0.05 * SR) + 5) for k in range(1, 6)])
    seams = seams[seams < out.shape[1] - 1]
    assert np.max(np.abs(np.diff(out[0]))[seams]) <= step_out  # the crossfades are no worse than elsewhere


def test_realtime_stream_never_blocks_and_counts_dropouts(tiny_model, rng):
    audio = music_like(rng, 0.5)
    dreamer = Dreamer(tiny_model, FAST.replace(iterations=50), device="cpu")
    stream = DreamStream(dreamer, SR, 1, realtime=True)
    import time

    t0 = time.perf_counter()
    outs = [stream.process(audio[:, i : i + 512]) for i in range(0, audio.shape[1], 512)]
    elapsed = time.perf_counter() - t0
    stream.close()
    assert elapsed < 2.0  # no waiting on the worker (timing bound is loose: it only guards against blocking)
    assert all(o.shape == (1, 512) or o.shape[1] <= 512 for o in outs)
    assert stream.stats.callback_errors == 0


def test_loop_mode_captures_then_plays_the_dreamed_loop(tiny_model, rng):
    audio = music_like(rng, 3.0)
    dreamer = Dreamer(tiny_model, FAST, device="cpu")
    stream = DreamStream(dreamer, SR, 1, realtime=True, mode="loop", loop_seconds=0.5)
    outs = []
    for i in range(0, audio.shape[1], 512):
        outs.append(stream.process(audio[:, i : i + 512]))
        if i == int(0.6 * SR) // 512 * 512:
            import time

            time.sleep(1.0)  # let the worker dream the captured loop a few times
    stream.close()
    out = np.concatenate(outs, axis=1)
    loop = int(0.5 * SR)
    assert np.array_equal(out[:, :loop], audio[:, :loop])  # capture: pass-through
    assert stream.stats.excerpts_dreamed >= 2
    later = out[:, 2 * loop : 3 * loop]
    assert np.sqrt(np.mean(later**2)) > 0.01 and not np.allclose(later, audio[:, :loop], atol=1e-3)
    with pytest.raises(ParameterError, match="shorter than one excerpt"):
        DreamStream(dreamer, SR, 1, mode="loop", loop_seconds=0.1)


@pytest.mark.vst3
@pytest.mark.skipif(not os.path.exists(ZAM), reason="zam-plugins not installed (apt-get install zam-plugins)")
def test_fx_chain_live_and_offline_agree(tmp_path, tiny_model, rng):
    from dreambridge.bridge.live.fx import build_chain

    preset_path = tmp_path / "fx.toml"
    preset_path.write_text(
        'schema = 1\n[params]\niterations = 2\nexcerpt_seconds = 0.25\ncrossfade_seconds = 0.03\n'
        '[[fx.pre]]\nplugin = "HighpassFilter"\ncutoff_frequency_hz = 120.0\n'
        f'[[fx.post]]\nvst3 = "{ZAM}"\nthreshold_db = -24.0\nratio = 4.0\n'
        '[[fx.post]]\nplugin = "Gain"\ngain_db = -3.0\n'
    )
    preset = load_preset(preset_path)
    audio = music_like(rng, 1.2, n_channels=2)
    src = write(tmp_path / "in.wav", audio, SR, "FLOAT")
    dreamer = Dreamer(tiny_model, preset.params, device="cpu")
    dream_file(dreamer, src, tmp_path / "off.wav", progress=False, pre_fx=build_chain(preset, "pre"), post_fx=build_chain(preset, "post"))
    import soundfile as sf

    offline = sf.read(str(tmp_path / "off.wav"), dtype="float32", always_2d=True)[0].T
    live = _stream(dreamer, audio, 512, pre_fx=build_chain(preset, "pre"), post_fx=build_chain(preset, "post"))
    # The live post-chain first hears the latency's silence, which leaves a compressor at
    # rest: the two agree to float rounding.
    assert np.abs(live - offline).max() < 1e-5
    plain = dreamer.process(audio, SR)
    assert np.abs(plain - offline).max() > 1e-3  # the chains really did something


def test_automation_through_the_stream_equals_batch(tmp_path, tiny_model, rng):
    """A MIDI-file automation rendered offline through the streaming engine equals the
    offline (batch) render for the same seed."""
    import mido

    from dreambridge.bridge.live.automation import MidiAutomation

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=400000, time=0))
    track.append(mido.Message("control_change", control=74, value=10, time=0))
    track.append(mido.Message("control_change", control=74, value=120, time=1200))
    mid.save(str(tmp_path / "a.mid"))
    (tmp_path / "m.toml").write_text('schema = 1\n[[cc]]\ncc = 74\nparam = "lowpass_hz"\nrange = [1000.0, 16000.0]\ncurve = "log"\nsmoothing_ms = 80.0\n')
    audio = music_like(rng, 1.6, n_channels=2)
    dreamer = Dreamer(tiny_model, FAST, device="cpu", batch_size=2)
    dreamer.set_schedule(MidiAutomation(FAST, tmp_path / "a.mid", load_midi_map(tmp_path / "m.toml")))
    offline = dreamer.process(audio, SR)
    streamed = _stream(dreamer, audio, 333)
    assert np.array_equal(streamed, offline)
    plain = Dreamer(tiny_model, FAST, device="cpu", batch_size=2).process(audio, SR)
    assert not np.allclose(offline, plain, atol=1e-3)  # the automation did move the cutoff
