"""Dataset builders (from Debian packages on disk, no network): ``instruments`` (GM
notes rendered with fluidsynth), ``events``, ``speech`` and ``stems``."""

__all__: list[str] = []
