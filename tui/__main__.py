"""``python -m tui [URL]``: the same as ``fristed console [URL]``."""
from __future__ import annotations

import sys

from tui.console import main

if __name__ == "__main__":
    sys.exit(main())
