"""The README stays true: every parameter documented, the quick start is what CI runs."""

from pathlib import Path

from dreambridge.presets import DreamParams, list_presets

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_parameter_is_in_the_table():
    for name in DreamParams.names():
        assert f"| `{name}` |" in README, name


def test_every_factory_preset_is_named():
    for name in list_presets():
        assert f"`{name}`" in README, name


def test_quick_start_test_line_is_what_ci_runs():
    quick = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(quick) == 2
    assert quick[1] in (ROOT / ".ci" / "run").read_text()
    assert "dreambridge dream" in quick[0] and "torch==2.13.0" in quick[0]


def test_every_repository_path_it_names_exists():
    import re

    rooms = ("bridge/", "dsp/", "models/", "export/", "presets/", "tests/", ".ci/")
    named = {m for m in re.findall(r"`([\w./-]+)`", README) if m.startswith(rooms) and "<" not in m}
    missing = [m for m in sorted(named) if not (ROOT / m).exists()]
    assert not missing, f"README names paths that do not exist: {missing}"
