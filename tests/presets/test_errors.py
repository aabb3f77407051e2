"""presets/errors.py: the one error hierarchy, and the first line the CLI prints."""

from dreambridge.presets.errors import (AudioIOError, DeviceError, DreamError, ExportError, ModelLoadError,
                                        ParameterError, first_line)


def test_every_expected_error_is_a_dream_error():
    for cls in (ParameterError, AudioIOError, ModelLoadError, ExportError, DeviceError):
        assert issubclass(cls, DreamError) and cls is not DreamError
    # a bad value is also a ValueError (argparse types and plain callers catch it); a missing file is not
    assert issubclass(ParameterError, ValueError) and not issubclass(AudioIOError, ValueError)


def test_first_line_of_a_message():
    assert first_line(ValueError("layer=9 is outside 0..7\n  details")) == "layer=9 is outside 0..7"
    assert first_line(RuntimeError("  \n  padded  \n")) == "padded"
    assert first_line(KeyError()) == "KeyError"  # no message: the type's name
    assert first_line(OSError("x" * 500)) == "x" * 160  # one terminal line at most
    assert first_line(OSError("x" * 500), limit=20) == "x" * 20
