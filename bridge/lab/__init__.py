"""The research lab: feature atlas and sweeps (``atlas``), reports (``report``),
signal analysis (``analysis``), speed (``bench``), plots (``plots``) and timbre style
transfer (``style``)."""

__all__: list[str] = []
