"""The five rooms of STYLE.md, kept true by walking every import (ast)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RULES = {
    # room: (allowed third-party/project roots, forbidden roots)
    "dsp": ({"numpy", "scipy"}, {"torch", "pedalboard", "mido", "rtmidi", "soundfile", "sounddevice", "dreambridge"}),
    "models": (None, {"dreambridge.bridge", "dreambridge.export", "mido", "rtmidi", "pedalboard", "sounddevice", "jack"}),
    "export": (None, {"dreambridge.bridge", "mido", "rtmidi", "pedalboard", "sounddevice", "jack"}),
    "presets": (set(), {"numpy", "torch", "scipy", "dreambridge.models", "dreambridge.bridge", "dreambridge.dsp", "dreambridge.export"}),
    "bridge": (None, set()),
}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("room", sorted(RULES))
def test_room_imports(room):
    allowed, forbidden = RULES[room]
    import sys

    stdlib = sys.stdlib_module_names
    for path in sorted((ROOT / room).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            for bad in forbidden:
                assert not (name == bad or name.startswith(bad + ".")), f"{path.relative_to(ROOT)} imports {name}"
            if allowed is not None and top not in stdlib and top != "tomli":
                ok = top in allowed or any(name.startswith(a) for a in allowed)
                if room == "presets":
                    ok = name.startswith("dreambridge.presets")
                assert ok, f"{path.relative_to(ROOT)} imports {name}, outside its room"


def test_nothing_imports_bridge():
    for room in ("dsp", "models", "export", "presets"):
        for path in (ROOT / room).rglob("*.py"):
            assert not any(n.startswith("dreambridge.bridge") for n in _imports(path)), path


def test_every_module_has_all():
    for room in RULES:
        for path in (ROOT / room).rglob("*.py"):
            if path.name == "__init__.py" and not path.read_text().strip():
                continue
            assert "__all__" in path.read_text(), f"{path.relative_to(ROOT)} has no __all__"


def test_installed_namespace():
    import dreambridge.bridge
    import dreambridge.dsp
    import dreambridge.models
    import dreambridge.presets

    assert Path(dreambridge.dsp.__file__).parent.name == "dsp"
    # Nothing installs bare top-level modules: from a neutral folder, `import dsp` fails.
    import subprocess
    import sys
    import tempfile

    for bare in ("dsp", "models", "bridge", "presets", "export"):
        code = subprocess.run([sys.executable, "-c", f"import {bare}"], cwd=tempfile.gettempdir(), capture_output=True)
        assert code.returncode != 0, f"a bare top-level module {bare!r} is importable"
