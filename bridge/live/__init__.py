"""Real time: the block stream over the engine (``stream``), audio devices (``devices``),
MIDI control and learn (``midi``) and pedalboard effect chains (``fx``)."""

__all__: list[str] = []
