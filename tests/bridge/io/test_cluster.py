"""bridge/io/cluster.py: --ray: batch and atlas on a real local Ray cluster (2 nodes x 1 CPU on
loopback): outputs byte-identical to a local run, both nodes work, a node killed mid-run, --resume,
an address where nothing answers."""

import json
import shutil
import socket
import subprocess
import time

import pytest
import soundfile as sf
from conftest import run_cli
from signals import music_like, white_noise, write

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'dreambridge[cluster]')")

# gradient depends on the thread split, so the local reference must use the same count.
FAST = ["--set", "iterations=2", "--set", "excerpt_seconds=0.5", "--set", "crossfade_seconds=0.05", "--threads", "1"]


@pytest.fixture(scope="module")
def cluster():
    """One head and one worker node, 1 CPU each, shared by this module (Ray starts slowly on 2 cores).
    Node health is checked every 0.5 s so a killed node is noticed in ~2 s, not Ray's default ~15 s."""
    from ray.cluster_utils import Cluster

    health = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500, "health_check_timeout_ms": 500,
              "health_check_failure_threshold": 3}
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, "_system_config": health})
    worker = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    try:
        yield c, worker
    finally:
        c.shutdown()


def _session(folder, rng):
    """Formats whose every bit shows (24-bit FLAC, float WAV), 16-bit, stereo, and a broken file."""
    folder.mkdir()
    grid = [("a.wav", 44100, 2, "PCM_16"), ("b.flac", 48000, 1, "PCM_24"), ("c.wav", 44100, 1, "FLOAT"),
            ("d.wav", 44100, 1, "PCM_24"), ("e.aiff", 48000, 2, "PCM_16")]
    for name, rate, channels, subtype in grid:
        write(folder / name, music_like(rng, 0.8, rate, channels) * 0.8, rate, subtype)
    (folder / "broken.wav").write_text("not audio")
    return folder


def _outputs(folder):
    """Every output's bytes; a float WAV's samples (libsndfile stamps the time into its PEAK chunk,
    so two local runs differ there too)."""
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            float_wav = p.suffix == ".wav" and sf.info(str(p)).subtype == "FLOAT"
            out[p.name] = sf.read(str(p), dtype="float32")[0].tobytes() if float_wav else p.read_bytes()
    return out


def test_batch_on_two_nodes_is_byte_identical_to_local(tmp_path, rng, cluster, tiny_model_dir):
    c, _ = cluster
    folder = _session(tmp_path / "in", rng)
    local, remote = tmp_path / "local", tmp_path / "remote"
    proc = run_cli("batch", folder, "-o", local, "--model", tiny_model_dir, "--quiet", *FAST)
    assert proc.returncode == 1 and "broken.wav" in proc.stdout  # the broken file fails, the rest finish
    # Ray puts the driver's folder on the workers' sys.path: a stray numpy.py there must not reach them.
    (tmp_path / "numpy.py").write_text("raise ImportError('the workers imported numpy.py from the driver folder')")
    proc = run_cli("batch", folder, "-o", remote, "--model", tiny_model_dir, "--json", "--ray", c.address, *FAST,
                   cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    summary = json.loads(proc.stdout)  # stdout is the JSON alone: Ray's own messages went to stderr
    assert len(summary["ok"]) == 5 and [f["input"] for f in summary["failed"]] == [str(folder / "broken.wav")]
    assert "cannot read audio" in summary["failed"][0]["error"]  # the driver's path, not a worker's temporary one
    assert _outputs(remote) == _outputs(local) and len(_outputs(local)) == 5
    nodes = {r["node"] for r in summary["ok"]}
    assert len(nodes) == 2 and set(summary["cluster"]["files_per_node"]) == nodes  # both nodes dreamed files
    assert not list(remote.glob(".*part*"))


def test_atlas_on_the_cluster_matches_a_local_atlas(tmp_path, cluster, tiny_model_dir, monkeypatch):
    c, _ = cluster
    args = ["--model", tiny_model_dir, "--layers", "0", "1", "--maps", "0", "1", "--iterations", "2", "--seconds", "0.2",
            "--quiet"]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread, as each Ray worker (see FAST)
    assert run_cli("atlas", "-o", tmp_path / "local", *args).returncode == 0
    proc = run_cli("atlas", "-o", tmp_path / "remote", *args, "--ray", c.address)
    assert proc.returncode == 0, proc.stderr
    for sub in ("audio", "maps"):
        assert _outputs(tmp_path / "remote" / sub) == _outputs(tmp_path / "local" / sub) != {}
    local = json.loads((tmp_path / "local" / "atlas.json").read_text())
    assert json.loads((tmp_path / "remote" / "atlas.json").read_text()) == local and len(local["maps"]) == 4


def test_an_address_where_nothing_answers_is_one_line_not_a_hang(tmp_path, rng):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free now, so nothing listens there
    write(tmp_path / "a.wav", white_noise(rng, 0.2)[None, :])
    out = tmp_path / "out"
    t0 = time.perf_counter()
    proc = run_cli("batch", tmp_path / "a.wav", "-o", out, "--ray", f"127.0.0.1:{port}", timeout=120)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "ray start --head" in lines[0], proc.stderr
    assert not out.exists()  # nothing written before the cluster answered
    # Python, torch and the CLI start in ~5 s on a busy 2-core box; Ray itself would retry for minutes.
    assert seconds < 30, seconds
    proc = run_cli("batch", tmp_path / "a.wav", "-o", out, "--ray", "nohost", timeout=60)
    assert proc.returncode == 2 and "not auto or HOST:PORT" in proc.stderr
    proc = run_cli("batch", tmp_path / "a.wav", "-o", out, "--ray", f"127.0.0.1:{port}", "--jobs", "2", timeout=60)
    assert proc.returncode == 2 and "--jobs and --ray do not go together" in proc.stderr


def test_a_node_killed_mid_run_and_resume(tmp_path, rng, cluster, tiny_model_dir):
    """Runs last in this module: it removes the worker node."""
    c, worker = cluster
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(8):
        write(folder / f"s{i}.flac", white_noise(rng, 1.0)[None, :], 44100, "PCM_24")
    # Enough work per file (6 iterations x 3 excerpts) that the worker is mid-file when killed.
    args = ["--model", tiny_model_dir, "--set", "iterations=6", "--set", "excerpt_seconds=0.5", "--threads", "1"]
    local = tmp_path / "local"
    assert run_cli("batch", folder, "-o", local, "--quiet", *args).returncode == 0
    out = tmp_path / "out"
    exe = shutil.which("dreambridge")
    proc = subprocess.Popen([exe, "batch", str(folder), "-o", str(out), "--json", "--ray", c.address, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not list(out.glob("s*_default.flac")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    c.remove_node(worker, allow_graceful=False)  # killed, not drained
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert len(summary["ok"]) == 8 and not summary["failed"]
    assert summary["cluster"]["lost_workers"] and summary["cluster"]["retried"], summary["cluster"]  # really mid-file
    assert max(r["attempts"] for r in summary["ok"]) == 2
    assert _outputs(out) == _outputs(local)
    proc = run_cli("batch", folder, "-o", out, "--resume", "--json", "--ray", c.address, *args)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert len(summary["skipped"]) == 8 and not summary["ok"] and not summary["failed"]
    assert summary["cluster"]["files_per_node"] == {}  # nothing was sent to the cluster
