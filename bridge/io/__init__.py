"""Files in and out: audio reading and atomic writing (``audio``), rendering one file
through the engine (``files``), folders of stems (``batch``) and the same on a Ray cluster
(``cluster``)."""

__all__: list[str] = []
