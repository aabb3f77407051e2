"""presets/version.py: the version, read once from the installed distribution."""

from importlib.metadata import version as installed

from dreambridge.presets.version import version


def test_version_is_the_installed_distribution():
    assert version() == installed("dreambridge") != "unknown"
