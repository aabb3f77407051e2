"""Files in and out: audio reading and atomic writing (``audio``), rendering one file
through the engine (``files``) and folders of stems (``batch``)."""

__all__: list[str] = []
