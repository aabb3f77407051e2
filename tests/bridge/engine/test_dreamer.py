"""bridge/engine/dreamer.py: ``Dreamer`` end to end on the tiny model: seeds, alignment, channels,
sample rates, batching, mix and octaves; ``one_shot_length``."""

import numpy as np
import pytest
import torch
from signals import SR, music_like, sine

from dreambridge.bridge.engine.dreamer import ONE_SHOT_STEPS, Dreamer
from dreambridge.bridge.engine.loop import MAX_GRID_JITTER
from dreambridge.presets import DreamParams

FAST = DreamParams(iterations=3, excerpt_seconds=0.5, crossfade_seconds=0.05)


def test_same_seed_same_dream_other_seed_other_dream(tiny_model, rng):
    audio = music_like(rng, 1.2)
    d = Dreamer(tiny_model, FAST, device="cpu")
    a = d.process(audio, SR)
    b = d.process(audio, SR)
    assert np.array_equal(a, b)
    d.set_params(FAST.replace(seed=7, max_offset_samples=50))
    c = d.process(audio, SR)
    d.set_params(FAST.replace(seed=8, max_offset_samples=50))
    e = d.process(audio, SR)
    assert not np.allclose(c, e)


@pytest.mark.parametrize("n_channels, seconds", [(1, 0.3), (2, 1.37), (3, 0.51)])
def test_output_is_aligned_finite_and_within_ceiling(tiny_model, rng, n_channels, seconds):
    audio = music_like(rng, seconds, n_channels=n_channels) * 1.9  # peaks near 0.95
    out = Dreamer(tiny_model, FAST, device="cpu").process(audio, SR)
    assert out.shape == audio.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert np.max(np.abs(out)) <= 10 ** (-0.1 / 20) + 1e-7
    assert not np.allclose(out, audio, atol=1e-3)


def test_zero_iterations_is_identity_and_alignment_is_exact(tiny_model, rng):
    audio = music_like(rng, 2.3, n_channels=2) * 0.9
    out = Dreamer(tiny_model, FAST.replace(iterations=0), device="cpu").process(audio, SR)
    # With nothing to dream, scheduling + crossfades must give back the input exactly
    # (up to float32 rounding of the weight normalisation).
    assert np.allclose(out, audio, atol=1e-6)


def test_other_sample_rates_are_resampled_in_and_out(tiny_model):
    tone = np.stack([sine(440.0, 1.3, 0.5, 48000)])
    out = Dreamer(tiny_model, FAST.replace(iterations=0), device="cpu").process(tone, 48000)
    assert out.shape == tone.shape
    # Polyphase resampling 48k -> 44.1k -> 48k of a 440 Hz tone: ~1e-3 error, no delay.
    assert np.allclose(out[:, 2000:-2000], tone[:, 2000:-2000], atol=3e-3)


def test_batching_and_block_split_do_not_change_the_dream(tiny_model, rng, tmp_path):
    from dreambridge.bridge.io.files import dream_file
    from signals import write

    audio = music_like(rng, 2.2, n_channels=2)
    ref = Dreamer(tiny_model, FAST, device="cpu", batch_size=1).process(audio, SR)
    for batch in (2, 5, 64):
        out = Dreamer(tiny_model, FAST, device="cpu", batch_size=batch).process(audio, SR)
        # On a CPU every excerpt-channel is dreamed on its own (one worker, one thread): a batch only hands
        # them out together, so the bits are equal.
        assert np.array_equal(out, ref), batch
    path = write(tmp_path / "in.wav", audio, subtype="FLOAT")
    dream_file(Dreamer(tiny_model, FAST, device="cpu", batch_size=3), path, tmp_path / "out.wav", progress=False)
    import soundfile as sf

    from_file, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    assert rate == SR and np.array_equal(from_file.T, ref)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_the_dream_does_not_depend_on_the_worker_or_thread_count(tiny_model, rng, backend):
    """Excerpt-channels dreamed in parallel by 1, 2 or 3 workers, and under a caller with 1 or 2 torch
    threads, give the same bits (each item runs single-threaded on some worker); the workers did run
    in parallel threads."""
    audio = music_like(rng, 2.2, n_channels=2)
    params = FAST.replace(envelope_lock=1.0, grid_notch_hz=12.0, layer=1)
    threads = torch.get_num_threads()
    outs, seen = [], set()
    try:
        for workers, caller_threads in [(1, 1), (2, 2), (3, 1), (None, 2)]:
            torch.set_num_threads(caller_threads)
            dreamer = Dreamer(tiny_model, params, device="cpu", backend=backend)
            dreamer.workers = workers
            step = dreamer.backend.objective_and_grad

            def spy(x, selection, step=step):
                import threading

                seen.add((threading.current_thread().name, torch.get_num_threads()))
                return step(x, selection)

            dreamer.backend.objective_and_grad = spy
            outs.append(dreamer.process(audio, SR))
            assert torch.get_num_threads() == caller_threads  # the caller's own setting is left alone
    finally:
        torch.set_num_threads(threads)
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])
    assert {n for _, n in seen} == {1}  # every step ran with one intra-op thread
    # on the workers, or (one worker, a caller at one thread) in the caller's own thread or the render's look-ahead
    assert all(name.startswith(("dreambridge-excerpt-", "dreambridge-render", "MainThread")) for name, _ in seen)
    assert len({name for name, _ in seen if name.startswith("dreambridge-excerpt-3_")}) >= 2  # 10 items, 3 workers


def test_silence_stays_silence_and_noise_init_dreams(tiny_model):
    silent = np.zeros((1, SR), dtype=np.float32)
    assert not np.any(Dreamer(tiny_model, FAST, device="cpu").process(silent, SR))
    noise = Dreamer(tiny_model, FAST.replace(init="noise"), device="cpu").process(silent, SR)
    assert np.max(np.abs(noise)) > 0.5
    zero = Dreamer(tiny_model, FAST.replace(init="silence"), device="cpu").process(silent, SR)
    assert np.max(np.abs(zero)) > 0.5


def test_mix_zero_is_dry(tiny_model, rng):
    audio = music_like(rng, 1.0)
    out = Dreamer(tiny_model, FAST.replace(mix=0.0), device="cpu").process(audio, SR)
    assert np.allclose(out, audio, atol=1e-7)


def test_identical_stereo_channels_stay_identical(tiny_model, rng):
    mono = music_like(rng, 1.0)
    out = Dreamer(tiny_model, FAST, device="cpu").process(np.concatenate([mono, mono]), SR)
    assert np.allclose(out[0], out[1], atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_matches_cpu(tiny_model, rng):
    audio = music_like(rng, 1.2)
    cpu = Dreamer(tiny_model, FAST, device="cpu").process(audio, SR)
    gpu = Dreamer(tiny_model, FAST, device="cuda").process(audio, SR)
    # cuDNN vs oneDNN summation order and TF32 off by default for conv: ~1e-5 differences
    assert np.allclose(cpu, gpu, atol=1e-3)


def test_octaves_dream_at_several_time_scales(tiny_model, rng):
    audio = music_like(rng, 1.2)
    one = Dreamer(tiny_model, FAST, device="cpu").process(audio, SR)
    d = Dreamer(tiny_model, FAST.replace(octaves=3, octave_scale=1.5), device="cpu")
    three, again = d.process(audio, SR), d.process(audio, SR)
    assert np.array_equal(three, again) and three.shape == audio.shape and np.isfinite(three).all()
    assert np.abs(three - one).max() > 1e-3  # the coarse octaves changed what the full-scale loop started from


@pytest.mark.parametrize("sample_rate", [SR, 48000, 16000])
def test_one_shot_length_covers_the_signal_and_a_guard_in_fft_friendly_steps(model_default, sample_rate):
    dreamer = Dreamer(model_default, device="cpu")
    n_excerpt, _, n_model = dreamer.layout(sample_rate)
    guard = min(dreamer.selection.stride_period, MAX_GRID_JITTER)
    quantum = n_model // ONE_SHOT_STEPS
    previous = 0
    for n_total in range(1, n_excerpt + 1, 997):
        n = dreamer.one_shot_length(n_total, sample_rate)
        assert previous <= n <= n_excerpt and n >= n_total  # monotone, never past an excerpt
        n_at_model = round(n * dreamer.sample_rate / sample_rate)
        if n < n_excerpt:
            assert n_at_model >= n_total * dreamer.sample_rate / sample_rate + guard - 1  # -1: rounding
            assert n_at_model % quantum in (0, 1, quantum - 1)  # whole twentieths, up to a rate's rounding
        previous = n
    assert dreamer.one_shot_length(n_excerpt // 2, sample_rate) < 0.6 * n_excerpt  # 0.5 s: 0.55 s, not 1 s
    if sample_rate == SR:
        assert dreamer.one_shot_length(22050, SR) == 11 * 2205  # 0.5 s + 245 (layer 2's stride) -> 11/20


def test_noise_excerpts_join_at_constant_power(tiny_model_dir):
    rate, n_excerpt, n_fade = 44100, 8820, 2205  # 0.2 s excerpts, 0.05 s crossfades: a hop of 6615 samples
    params = DreamParams(init="noise", iterations=0, excerpt_seconds=0.2, crossfade_seconds=0.05, seed=3)
    dreamer = Dreamer(str(tiny_model_dir), params, device="cpu")
    n_hops = 40
    y = dreamer.process(np.zeros((1, n_hops * (n_excerpt - n_fade) + n_fade), np.float32), rate)[0].astype(float)
    hop = n_excerpt - n_fade
    fades = np.concatenate([y[k * hop + hop : k * hop + n_excerpt] for k in range(n_hops - 1)])
    solos = np.concatenate([y[k * hop + n_fade : k * hop + hop] for k in range(1, n_hops - 1)])
    ratio_db = 10 * np.log10(np.mean(fades**2) / np.mean(solos**2))
    # each excerpt is white noise peak-normalised on its own: excerpt levels scatter by ~0.5 dB, averaged over 39
    # crossfades to ~0.1 dB (measured 0.0003); without the lift the sin^2 crossfade averages r^2 + (1 - r)^2 = 0.75
    # over the fade: -1.25 dB (measured -1.24), -3 dB mid-fade
    assert abs(ratio_db) < 0.5


@pytest.mark.parametrize("n_after", [0, 1000])  # the last excerpt ends at the signal's end, or 1000 samples past it
def test_the_last_noise_excerpt_fades_out_unlifted(tiny_model_dir, n_after):
    """The grid stops where the signal does, so the last excerpt's fade-out has no neighbour: it gets no
    equal-power lift (it would be up to +3 dB mid-fade), and its fade-in, which has one, does."""
    n_excerpt, n_fade = 8820, 2205
    hop = n_excerpt - n_fade
    params = DreamParams(init="noise", iterations=0, excerpt_seconds=0.2, crossfade_seconds=0.05, seed=3)
    dreamer = Dreamer(str(tiny_model_dir), params, device="cpu")
    n_total = 3 * hop + n_excerpt - n_after  # excerpts 0..3; excerpt 4 would start after n_total - n_fade
    y = dreamer.process(np.zeros((1, n_total), np.float32), SR)[0].astype(float)
    last = 3 * hop
    tail = y[last + hop : n_total]
    solo = y[last + n_fade : last + hop]  # the same excerpt, alone: the same noise level
    ratio_db = 10 * np.log10(np.mean(tail**2) / np.mean(solo**2))
    # white noise: the tail's power (1200-2205 samples) is estimated within ~0.2 dB (3 sigma); with the lift it
    # would read +1.2 to +1.6 dB (the lift's mean power over the fade or its first half)
    assert abs(ratio_db) < 0.6, ratio_db


def test_auto_backend_is_onnx_on_a_cpu_only_where_the_model_ships_its_graphs(tiny_model, tiny_model_dir, monkeypatch):
    """``auto`` picks onnxruntime on a CPU for the default model (it ships its graphs: no torch
    to import), torch for a model directory without graphs, a loaded model or a GPU; explicit
    choices pass through."""
    from dreambridge.bridge.engine import dreamer as dreamer_module
    from dreambridge.bridge.engine.dreamer import resolve_backend

    monkeypatch.setattr(dreamer_module, "_cuda_may_be_present", lambda: False)
    assert resolve_backend("auto", "default", "auto") == "onnx"
    assert resolve_backend("auto", "default", "cpu") == "onnx"
    assert resolve_backend("auto", str(tiny_model_dir), "cpu") == "torch"  # no graphs/ folder
    assert resolve_backend("auto", tiny_model, "cpu") == "torch"  # a loaded model
    assert resolve_backend("auto", "default", "cuda") == "torch"
    assert resolve_backend("torch", "default", "cpu") == "torch"
    assert Dreamer("default", device="cpu", backend="auto").backend_name == "onnx"
    monkeypatch.setattr(dreamer_module, "_cuda_may_be_present", lambda: True)
    assert resolve_backend("auto", "default", "auto") == "torch"  # the GPU keeps torch's device-resident path
    assert resolve_backend("auto", "default", "cpu") == "onnx"
