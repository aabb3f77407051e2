"""bridge/cli/commands.py: the subcommands that list, show and build (presets, models, data)."""

import json

import pytest
from conftest import run_cli


def test_presets_and_models_commands():
    proc = run_cli("presets", "list")
    assert proc.returncode == 0 and "bisig-exp1" in proc.stdout and "default" in proc.stdout
    proc = run_cli("presets", "show", "bisig-exp2")
    assert proc.returncode == 0 and "learning_rate = 0.04" in proc.stdout
    proc = run_cli("models", "list")
    assert proc.returncode == 0 and "(default)" in proc.stdout and "model2" in proc.stdout
    proc = run_cli("models", "show", "default")
    card = json.loads(proc.stdout)
    assert card["architecture"]["arch"] == "model2" and len(card["class_names"]) == 128


@pytest.mark.parametrize("kind", ["events", "speech", "instruments", "stems"])
def test_cli_data_refuses_a_file_as_the_set_folder(tmp_path, kind):
    target = tmp_path / "not-a-folder.wav"
    target.write_bytes(b"RIFF")
    result = run_cli("data", kind, target)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "is a file" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert target.read_bytes() == b"RIFF"


def test_report_table11_adds_the_cutoff_runs_loudness_on_the_seeds_asked(monkeypatch):
    """Issue 16: the cutoff run's loudness per step, raw and against the control, one block per seed
    (1 s steps: the paper's 20 s scaled down; one torch thread, as the round robin's tests)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    proc = run_cli("report", "table11", "--params", "lowpass_hz", "--step-seconds", "1", "--seeds", "3", "5",
                   "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    loudness = json.loads(proc.stdout)["cutoff_loudness"]
    assert [row["seed"] for row in loudness["rows"]] == [3, 5] and loudness["tail_seconds"] == 1.0
    proc = run_cli("report", "table11", "--params", "lowpass_hz", "--seeds", "-1", "--step-seconds", "1")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
