"""``python -m dreambridge.bridge.cli``: the ``dreambridge`` command."""

import sys

from dreambridge.bridge.cli import main

__all__: list[str] = []

sys.exit(main())
