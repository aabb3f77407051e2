"""The installed version of dreambridge, read in one place from the package metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

__all__ = ["version"]


def version() -> str:
    """The version of the installed distribution (``"unknown"`` from an uninstalled tree)."""
    try:
        return _installed_version("dreambridge")
    except PackageNotFoundError:
        return "unknown"
