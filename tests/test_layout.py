"""The rooms of STYLE.md, kept true by walking every import (ast): who may import whom,
no import circle anywhere, every module with ``__all__``."""

import ast
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("bridge", "dsp", "export", "models", "presets")
FRONT_ENDS = ("dreambridge.bridge.io", "dreambridge.bridge.live", "dreambridge.bridge.lab", "dreambridge.bridge.cli")

RULES = {
    # room: (allowed third-party/project roots, forbidden roots)
    "dsp": ({"numpy", "scipy"}, {"torch", "pedalboard", "mido", "rtmidi", "soundfile", "sounddevice", "dreambridge"}),
    "models": (None, {"dreambridge.bridge", "dreambridge.export", "mido", "rtmidi", "pedalboard", "sounddevice", "jack"}),
    "export": (None, {"dreambridge.bridge", "mido", "rtmidi", "pedalboard", "sounddevice", "jack"}),
    "presets": (set(), {"numpy", "torch", "scipy", "dreambridge.models", "dreambridge.bridge", "dreambridge.dsp", "dreambridge.export"}),
    "bridge": (None, set()),
    # inside bridge: the engine drives no front-end and touches no device, MIDI or effect library
    "bridge/engine": (None, {*FRONT_ENDS, "mido", "rtmidi", "pedalboard", "sounddevice", "jack", "soundfile"}),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["dreambridge", *parts])


def _imports(path: Path):
    """Absolute names imported by ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            if node.level == 0:
                base = node.module
            elif node.module:
                base = f"{base}.{node.module}"
            yield base
            for alias in node.names:  # `from pkg import module`
                yield f"{base}.{alias.name}"


def _sources():
    return sorted(p for room in ROOMS for p in (ROOT / room).rglob("*.py"))


@pytest.mark.parametrize("room", sorted(RULES))
def test_room_imports(room):
    allowed, forbidden = RULES[room]
    stdlib = sys.stdlib_module_names
    for path in sorted((ROOT / room).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            own = _module_name(ROOT / room / "__init__.py")
            if name == own or name.startswith(own + "."):
                continue  # its own room
            for bad in forbidden:
                assert not (name == bad or name.startswith(bad + ".")), f"{path.relative_to(ROOT)} imports {name}"
            if allowed is not None and top not in stdlib and top != "tomli":
                ok = top in allowed or any(name.startswith(a) for a in allowed)
                assert ok, f"{path.relative_to(ROOT)} imports {name}, outside its room"


def test_nothing_imports_bridge():
    for room in ("dsp", "models", "export", "presets"):
        for path in (ROOT / room).rglob("*.py"):
            assert not any(n.startswith("dreambridge.bridge") for n in _imports(path)), path


def test_no_import_circle():
    """The graph of project modules (lazy imports inside functions included) has no cycle."""
    modules = {_module_name(p): p for p in _sources()}
    graph = {}
    for name, path in modules.items():
        deps = {n for n in _imports(path) if n in modules and n != name}
        # importing a package's module runs the package's __init__: count that edge too
        graph[name] = deps | {n.rsplit(".", 1)[0] for n in deps if n.rsplit(".", 1)[0] in modules} - {name}
    for name in graph:  # a package's __init__ importing its own modules is not a circle through them
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycle = trail[trail.index(dep):] + [dep]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, trail + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_every_module_has_all():
    for path in _sources():
        if path.name == "__init__.py" and not path.read_text().strip():
            continue
        assert "__all__" in path.read_text(), f"{path.relative_to(ROOT)} has no __all__"


def test_no_room_holds_more_than_a_third_of_the_code():
    lines = {}
    for path in _sources():
        folder = path.parent.relative_to(ROOT).as_posix()
        lines[folder] = lines.get(folder, 0) + len(path.read_text().splitlines())
    total = sum(lines.values())
    for folder, n in lines.items():
        assert n <= 0.36 * total, f"{folder}/ holds {n} of {total} lines"  # "about a third": 36 % allowed


def test_installed_namespace():
    import dreambridge.bridge.engine
    import dreambridge.dsp

    assert Path(dreambridge.dsp.__file__).parent.name == "dsp"
    assert Path(dreambridge.bridge.engine.__file__).parent.name == "engine"
    # Nothing installs bare top-level modules: from a neutral folder, `import dsp` fails.
    for bare in ("dsp", "models", "bridge", "presets", "export"):
        code = subprocess.run([sys.executable, "-c", f"import {bare}"], cwd=tempfile.gettempdir(), capture_output=True)
        assert code.returncode != 0, f"a bare top-level module {bare!r} is importable"


def test_every_all_is_true():
    """Every name a module exports in ``__all__`` exists in it."""
    import importlib

    for path in _sources():
        if path.name == "__main__.py":
            continue
        module = importlib.import_module(_module_name(path))
        missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
        assert not missing, f"{path.relative_to(ROOT)}: __all__ names {missing}, which it does not define"


# -- the tests mirror the rooms: <room>/.../<module>.py is tested in tests/<room>/.../test_<module>.py ------
TESTS = ROOT / "tests"
# Test files of the project as a whole, not of one module.
PROJECT_TESTS = {
    "test_layout.py": "the package layout: rooms, import circles, __all__, this mirror",
    "test_readme.py": "the README: parameter table, preset names, quick start, the paths it names",
    "test_golden.py": "fixed renders through the whole engine, bit for bit",
}
# Modules with code but no test file of their own, and why (keep it short: prefer a small real test).
UNTESTED: dict[str, str] = {}


def _test_file_of(path: Path) -> Path:
    """``bridge/engine/dreamer.py`` -> ``tests/bridge/engine/test_dreamer.py``; a package's ``__init__.py`` ->
    ``test_<package>.py`` in its parent's test folder (``bridge/live/plugin/`` -> ``tests/bridge/live/test_plugin.py``)."""
    rel = path.relative_to(ROOT)
    if path.name == "__init__.py":
        return TESTS / rel.parent.parent / f"test_{rel.parent.name}.py"
    return TESTS / rel.parent / f"test_{path.stem}.py"


def _has_code(path: Path) -> bool:
    """Defines a function or class (not a re-exporting ``__init__``, a ``__main__`` stub or data only)."""
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return any(isinstance(node, defs) for node in ast.parse(path.read_text()).body)


def test_every_test_file_mirrors_a_module():
    mirrors = {_test_file_of(p): p for p in _sources() if _has_code(p)}
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = path.relative_to(TESTS).as_posix()
        if rel in PROJECT_TESTS:
            continue
        assert path in mirrors, (f"tests/{rel} mirrors no module with code: put its tests in tests/<room>/.../"
                                 f"test_<module>.py of the module they test, or add it to PROJECT_TESTS with the reason")
    assert all((TESTS / name).is_file() for name in PROJECT_TESTS), "PROJECT_TESTS names a file that is gone"


def test_every_module_with_code_has_its_test_file():
    missing = [p.relative_to(ROOT).as_posix() for p in _sources()
               if _has_code(p) and not _test_file_of(p).is_file() and p.relative_to(ROOT).as_posix() not in UNTESTED]
    assert not missing, f"modules without a test file (tests/<room>/.../test_<module>.py): {missing}"
    stale = [m for m in UNTESTED if not (ROOT / m).is_file() or _test_file_of(ROOT / m).is_file()]
    assert not stale, f"UNTESTED lists modules that are gone or now have tests: {stale}"
