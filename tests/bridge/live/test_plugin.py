"""bridge/live/plugin/: the native plugin (built once per session with DPF) in real hosts
(pedalboard, DawDreamer, lv2file, jalv, a CLAP host) against a real ``dreambridge serve``; its build and install."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from signals import music_like

pytestmark = pytest.mark.plugin

RATE = 44100
# A fast engine: an untrained tiny model, short excerpts, two steps (the logic, not the sound, is tested).
ENGINE_ARGS = ["--preset", "dream", "--set", "iterations=2", "--set", "excerpt_seconds=0.25",
               "--set", "crossfade_seconds=0.05"]
HOST_PARAMS = {"mix", "layer", "channel", "iterations", "learning_rate", "lowpass_hz", "envelope", "preset"}
HAVE_BUILD_TOOLS = all(shutil.which(t) for t in ("g++", "make")) and Path("/usr/share/dpf/Makefile.plugins.mk").is_file()
needs_build = pytest.mark.skipif(not HAVE_BUILD_TOOLS, reason="g++, make or dpf-source missing (apt-get install g++ make dpf-source)")


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    noise = np.sum((test - reference) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory):
    if not HAVE_BUILD_TOOLS:
        pytest.skip("g++, make or dpf-source missing (apt-get install g++ make dpf-source)")
    out = tmp_path_factory.mktemp("plugin")
    result = run_cli("plugin", "build", "-o", out)
    assert result.returncode == 0, result.stderr
    return out


@contextmanager
def engine(socket_path, model_dir, *extra, osc_port=None):
    """``dreambridge serve`` on ``socket_path``; yields (process, printed latency). Stopped by PID."""
    exe = shutil.which("dreambridge")
    cmd = [exe, "serve", "--socket", str(socket_path), "--model", str(model_dir), *ENGINE_ARGS, *map(str, extra)]
    if osc_port is not None:
        cmd += ["--osc-port", str(osc_port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        latency = None
        for _ in range(10):
            line = proc.stdout.readline()
            match = re.search(r"latency: (\d+) samples", line)
            if match:
                latency = int(match.group(1))
            if line.startswith("ready") or not line:
                break
        assert latency is not None and line.startswith("ready"), line + (proc.stderr.read() if proc.poll() is not None else "")
        yield proc, latency
    finally:
        stop(proc)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stereo_music(seconds: float, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.6 * np.stack([music_like(rng, seconds)[0], music_like(rng, seconds)[0]])).astype(np.float32)


def dream_reference(tmp_path, audio, model_dir) -> np.ndarray:
    src, ref = tmp_path / "in.wav", tmp_path / "ref.wav"
    sf.write(src, audio.T, RATE, subtype="FLOAT")
    result = run_cli("dream", src, "-o", ref, "--quiet", "--model", model_dir, *ENGINE_ARGS)
    assert result.returncode == 0, result.stderr
    return sf.read(ref, dtype="float32")[0].T


def _hello(sock_path, line: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(sock_path))
        client.sendall(line.encode())
        return client.makefile().readline().strip()


@needs_build
def test_vst3_in_pedalboard_equals_dream(tmp_path, plugin_dir, tiny_model_dir, monkeypatch):
    import pedalboard

    sock = tmp_path / "serve.sock"
    monkeypatch.setenv("DREAMBRIDGE_SOCKET", str(sock))
    audio = stereo_music(2.0)
    with engine(sock, tiny_model_dir) as (proc, latency):
        plugin = pedalboard.load_plugin(str(plugin_dir / "dreambridge.vst3"))
        assert HOST_PARAMS <= set(plugin.parameters), sorted(plugin.parameters)
        out = plugin(audio, RATE)  # pedalboard renders offline and compensates the reported latency
        assert plugin.reported_latency_samples == latency
        del plugin
    ref = dream_reference(tmp_path, audio, tiny_model_dir)
    assert snr_db(ref, out) >= 30  # the bar; measured: bit-identical (the plugin waits offline)
    assert snr_db(ref, audio) < 30  # control: the dream is not the input


@needs_build
def test_vst3_passes_audio_through_without_engine(tmp_path, plugin_dir, monkeypatch):
    import pedalboard

    monkeypatch.setenv("DREAMBRIDGE_SOCKET", str(tmp_path / "nobody.sock"))
    audio = stereo_music(1.0)
    plugin = pedalboard.load_plugin(str(plugin_dir / "dreambridge.vst3"))
    out = plugin(audio, RATE)
    assert plugin.reported_latency_samples == 0
    np.testing.assert_array_equal(out, audio)  # exact: no engine, no latency, the input untouched


@needs_build
def test_dawdreamer_hears_the_mix_lane(tmp_path, plugin_dir, tiny_model_dir, monkeypatch):
    daw = pytest.importorskip("dawdreamer")
    sock = tmp_path / "serve.sock"
    monkeypatch.setenv("DREAMBRIDGE_SOCKET", str(sock))
    seconds = 3.0
    audio = stereo_music(seconds + 1.0)
    n = int(seconds * RATE)
    with engine(sock, tiny_model_dir) as (proc, latency):
        render = daw.RenderEngine(RATE, 512)
        player = render.make_playback_processor("player", audio)
        fx = render.make_plugin_processor("dream", str(plugin_dir / "dreambridge.vst3"))
        index = [p["index"] for p in fx.get_parameters_description() if p["name"].strip().lower() == "mix"][0]
        lane = np.where(np.arange(n + latency) < RATE, 1.0, 0.0).astype(np.float32)  # wet for 1 s, then dry
        assert fx.set_automation(index, lane)
        render.load_graph([(player, []), (fx, ["player"])])
        render.render(n / RATE)
        out = render.get_audio()
    assert out.shape[0] == 2
    # DawDreamer reads the latency but does not compensate it: output sample t is input t - latency.
    dry = np.pad(audio, ((0, 0), (latency, 0)))[:, : out.shape[1]]
    excerpt = int(0.25 * RATE)
    wet_part = slice(latency + excerpt, latency + RATE - excerpt)
    dry_part = slice(latency + RATE + 2 * excerpt, out.shape[1])
    assert dry_part.start < out.shape[1] - RATE // 4
    print(f"dawdreamer mix lane: SNR to the delayed input {snr_db(dry[:, wet_part], out[:, wet_part]):.1f} dB at "
          f"mix 1, {snr_db(dry[:, dry_part], out[:, dry_part]):.1f} dB at mix 0")
    assert snr_db(dry[:, wet_part], out[:, wet_part]) < 20  # mix=1: the dream
    assert snr_db(dry[:, dry_part], out[:, dry_part]) > 60  # mix=0: the input, at the reported delay


@needs_build
def test_lv2file_renders_the_lv2(tmp_path, plugin_dir, tiny_model_dir):
    if shutil.which("lv2file") is None:
        pytest.skip("lv2file missing (apt-get install lv2file)")
    sock = tmp_path / "serve.sock"
    audio = stereo_music(2.0)
    with engine(sock, tiny_model_dir) as (proc, latency):
        pad = np.pad(audio, ((0, 0), (0, latency)))  # lv2file does not compensate latency: feed the tail
        sf.write(tmp_path / "padded.wav", pad.T, RATE, subtype="FLOAT")
        env = dict(os.environ, LV2_PATH=str(plugin_dir), DREAMBRIDGE_SOCKET=str(sock))
        result = subprocess.run(["lv2file", "-i", str(tmp_path / "padded.wav"), "-o", str(tmp_path / "lv2.wav"),
                                 "--ignore-clipping", "urn:dreambridge:dream"], capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode == 0, result.stderr
    out = sf.read(tmp_path / "lv2.wav", dtype="float32")[0].T[:, latency : latency + audio.shape[1]]
    ref = dream_reference(tmp_path, audio, tiny_model_dir)
    assert snr_db(ref, out) >= 30  # same bar as the VST3; lv2file writes float WAV as read


@needs_build
def test_serve_bad_inputs_one_line_each_and_audio_keeps_flowing(tmp_path, plugin_dir, tiny_model_dir, monkeypatch):
    import pedalboard
    from pythonosc.udp_client import SimpleUDPClient

    sock = tmp_path / "serve.sock"
    monkeypatch.setenv("DREAMBRIDGE_SOCKET", str(sock))
    osc_port = 19000 + os.getpid() % 50
    unknown = run_cli("serve", "--socket", tmp_path / "other.sock", "--preset", "no-such-preset", timeout=120)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    assert "unknown preset 'no-such-preset'" in unknown.stderr
    with engine(sock, tiny_model_dir, osc_port=osc_port) as (proc, latency):
        second = run_cli("serve", "--socket", sock, "--model", tiny_model_dir, timeout=120)
        assert second.returncode != 0 and "already running" in second.stderr, second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        answer = _hello(sock, "hello protocol=99 shm=/nothing rate=44100 channels=2\n")
        assert answer.startswith("error") and "protocol 99" in answer, answer
        client = SimpleUDPClient("127.0.0.1", osc_port)
        client.send_message("/dreambridge/no_such_param", 1.0)
        client.send_message("/dreambridge/mix", [1.0, 2.0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.sendto(b"\x00garbage", ("127.0.0.1", osc_port))
        client.send_message("/dreambridge/mix", 5.0)  # outside 0..1: refused
        client.send_message("/dreambridge/seed", 0)  # valid (the preset's own value: the render stays comparable)
        time.sleep(0.5)
        assert proc.poll() is None
        audio = stereo_music(1.5)
        plugin = pedalboard.load_plugin(str(plugin_dir / "dreambridge.vst3"))
        out = plugin(audio, RATE)
        del plugin
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = err.strip().splitlines()
    assert sum("refused a plugin" in line and "protocol 99" in line for line in lines) == 1, err
    assert sum(line.startswith("osc: ignored a malformed message") for line in lines) == 4, err
    stats = json.loads(lines[-1])
    assert stats["osc_malformed"] == 4 and stats["osc_messages"] == 1 and stats["refused"] == 1, stats
    ref = dream_reference(tmp_path, audio, tiny_model_dir)
    assert snr_db(ref, out) >= 30  # audio kept flowing, exactly (see the pedalboard test)


@needs_build
def test_plugin_build_refuses_to_overwrite(tmp_path, plugin_dir):
    result = run_cli("plugin", "build", "-o", plugin_dir)
    assert result.returncode != 0 and "--overwrite" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_plugin_build_names_missing_tools(tmp_path):
    env_path = tmp_path / "bin"
    env_path.mkdir()
    exe = shutil.which("dreambridge")
    python = Path(exe).parent
    for tool in ("python", "python3"):  # the console script's interpreter only: no g++, no make
        if (python / tool).exists():
            (env_path / tool).symlink_to(python / tool)
    result = subprocess.run([exe, "plugin", "build", "-o", str(tmp_path / "out")], capture_output=True, text=True,
                            env=dict(os.environ, PATH=str(env_path), DPF_PATH=str(tmp_path / "none")), timeout=120)
    assert result.returncode != 0
    assert "apt-get install g++ make" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@needs_build
@pytest.mark.jack
def test_jalv_on_jack_wet_dry_wet_across_engine_kill_and_restart(tmp_path, plugin_dir, tiny_model_dir):
    """jalv hosts the LV2 in real time while a JACK client plays through it: wet while the engine runs,
    dry at the same delay soon after it is killed, wet again after it restarts."""
    from live_harness import HAVE_JACK_CLIENT, HAVE_JACKD, JackTester, jack_server, residual_db, torn

    if not (HAVE_JACKD and HAVE_JACK_CLIENT and shutil.which("jalv")):
        pytest.skip("jackd, JACK-Client or jalv missing (apt-get install jackd2 jalv)")
    block = 512
    sock = tmp_path / "serve.sock"
    light = ["--set", "layer=1", "--set", "iterations=1"]  # real time on a busy 2-core box
    rng = np.random.default_rng(21)
    signal_ = (0.6 * music_like(rng, 30.0)[0]).astype(np.float32)
    kill_at, restart_at = int(4.5 * RATE), int(7.5 * RATE)
    with jack_server(block) as server:
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, LV2_PATH=str(plugin_dir), DREAMBRIDGE_SOCKET=str(sock))
        first = engine(sock, tiny_model_dir, *light)
        proc, latency = first.__enter__()
        host = subprocess.Popen(["jalv", "-n", "dbplug", "urn:dreambridge:dream"], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        tester = JackTester(server, signal_, record_seconds=30)
        second = None
        try:
            assert tester.wait_for_ports(["dbplug:lv2_audio_in_1", "dbplug:lv2_audio_out_1"]), "jalv did not start"
            tester.client.activate()
            links = [(tester.play, "dbplug:lv2_audio_in_1"), (tester.play, "dbplug:lv2_audio_in_2"),
                     ("dbplug:lv2_audio_out_1", tester.rec)]
            for source, target in links:
                for attempt in range(50):  # jalv registers its ports a moment before it activates
                    try:
                        tester.client.connect(source, target)
                        break
                    except Exception:
                        time.sleep(0.1)
                else:
                    raise AssertionError(f"cannot connect {source} -> {target}")
            time.sleep(0.5)
            tester.start()
            while tester.pos < kill_at:
                time.sleep(0.001)
            killed = tester.pos
            os.killpg(proc.pid, signal.SIGKILL)  # a crash, not a clean stop
            proc.wait()
            while tester.pos < restart_at:
                time.sleep(0.01)
            restarted = tester.pos
            second = engine(sock, tiny_model_dir, *light)
            second.__enter__()
            ready = tester.pos  # the engine loads its model first (seconds on a busy box)
            end = ready + 4 * RATE
            assert end < len(tester.recording), "the engine took too long to restart"
            while tester.pos < end:
                time.sleep(0.05)
        finally:
            if second is not None:
                second.__exit__(None, None, None)
            first.__exit__(None, None, None)
            host.stdin.close()
            stop(host)
            tester.close()
    rec = tester.recording[:end]
    window = 1024
    starts = list(range(RATE, len(rec) - window, window))
    fits = [residual_db(signal_, rec, t, latency, window, search=4 * block) for t in starts]
    dry = np.array([db < -40 for db, _ in fits])  # the input itself (a dreamed window is within -20 dB)
    judged = ~torn(starts, window, tester.xruns, block)  # a busy box's xruns tear windows: not judged

    def share_dry(lo, hi):
        return dry[[lo <= t and t + window <= hi and ok for t, ok in zip(starts, judged)]].mean()

    print(f"jalv: dry share {share_dry(latency + RATE // 2, killed):.2f} engine up, "
          f"{share_dry(killed + latency + int(0.04 * RATE) + 2 * block, restarted + latency):.2f} killed, "
          f"{share_dry(ready + 2 * latency + RATE // 2, end):.2f} restarted; latency {latency}")
    assert share_dry(latency + RATE // 2, killed) < 0.3  # engine up: the dream (late excerpts play dry)
    margin = int(0.040 * RATE)
    # The ring holds the margin's worth of dream; then the plugin fades to dry within a block.
    gone = killed + latency + margin + 2 * block
    assert share_dry(gone, restarted + latency) > 0.9  # engine gone: the input, dry
    back = ready + 2 * latency + RATE // 2  # reconnect (<= 0.3 s), dry for one latency, then the dream
    assert share_dry(back, end) < 0.3
    # Measured delay of the dry stretch == the latency jalv was told (JACK's loop adds at most a period).
    delay = min(lag for (_, lag), is_dry in zip(fits, dry) if is_dry)
    assert abs(delay - latency) <= block, (delay, latency)
    print(f"jalv: measured delay {delay}, reported {latency}, xruns during the run: {len(tester.xruns)}, "
          f"windows judged {judged.mean():.2f}")


@needs_build
def test_clap_in_a_small_host_equals_dream(tmp_path, plugin_dir, tiny_model_dir):
    """Debian has no CLAP host: tests/hosts/clap_host.c, built against the CLAP headers DPF bundles, loads
    the bundle, activates it, reads its latency and parameters, and renders blocks as fast as it can."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc missing (apt-get install gcc)")
    host = tmp_path / "clap_host"
    source = Path(__file__).resolve().parents[2] / "hosts" / "clap_host.c"
    built = subprocess.run(["gcc", "-O1", "-I/usr/share/dpf/distrho/src", str(source), "-o", str(host), "-ldl"],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    sock = tmp_path / "serve.sock"
    audio = stereo_music(2.0)
    with engine(sock, tiny_model_dir) as (proc, latency):
        padded = np.pad(audio, ((0, 0), (0, latency)))  # this host does not compensate latency
        padded.astype("<f4").tofile(tmp_path / "in.f32")
        result = subprocess.run([str(host), str(plugin_dir / "dreambridge.clap"), str(RATE), "1024",
                                 str(tmp_path / "in.f32"), str(tmp_path / "out.f32")], capture_output=True, text=True,
                                env=dict(os.environ, DREAMBRIDGE_SOCKET=str(sock)), timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "id org.dreambridge.dream" in lines
    assert f"latency {latency}" in lines
    assert HOST_PARAMS - {"learning_rate", "lowpass_hz"} <= {line[6:] for line in lines if line.startswith("param ")}
    out = np.fromfile(tmp_path / "out.f32", dtype="<f4").reshape(2, -1)[:, latency : latency + audio.shape[1]]
    ref = dream_reference(tmp_path, audio, tiny_model_dir)
    assert snr_db(ref, out) >= 30  # the VST3's bar


@needs_build
def test_plugin_install_copies_into_the_user_folders(tmp_path, plugin_dir):
    env = dict(os.environ, HOME=str(tmp_path))
    exe = shutil.which("dreambridge")
    result = subprocess.run([exe, "plugin", "install", "-o", str(plugin_dir)], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".vst3" / "dreambridge.vst3" / "Contents" / "x86_64-linux" / "dreambridge.so").is_file()
    assert (tmp_path / ".clap" / "dreambridge.clap").is_file()
    assert (tmp_path / ".lv2" / "dreambridge.lv2" / "manifest.ttl").is_file()
    missing = subprocess.run([exe, "plugin", "install", "-o", str(tmp_path / "nothing")], capture_output=True,
                             text=True, env=env, timeout=120)
    assert missing.returncode != 0 and "plugin build -o" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


@needs_build
def test_a_plugin_of_another_protocol_is_refused_in_one_line_and_passes_audio(tmp_path, tiny_model_dir,
                                                                               monkeypatch):
    import pedalboard

    other = tmp_path / "other"
    build = ("import dreambridge.bridge.live.serve as serve; serve.PROTOCOL_VERSION = 99\n"
             "from dreambridge.bridge.live.plugin import build_plugin\n"
             f"build_plugin({str(other)!r})\n")
    result = subprocess.run([shutil.which("python") or "python3", "-c", build], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    sock = tmp_path / "serve.sock"
    monkeypatch.setenv("DREAMBRIDGE_SOCKET", str(sock))
    audio = stereo_music(1.0)
    with engine(sock, tiny_model_dir) as (proc, latency):
        plugin = pedalboard.load_plugin(str(other / "dreambridge.vst3"))
        out = plugin(audio, RATE)
        reported = plugin.reported_latency_samples
        del plugin
        time.sleep(0.5)
        assert proc.poll() is None  # the engine keeps serving
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert reported == 0
    np.testing.assert_array_equal(out, audio)  # refused: a plain pass-through, exact
    refused = [line for line in err.splitlines() if line.startswith("refused a plugin")]
    assert refused and all("protocol 99" in line and "dreambridge plugin build" in line for line in refused), err
    # one line per activation the host made (pedalboard activates once per render; the plugin never retries)
    assert len(refused) <= 8, err
