"""`python -m node` is the same as `fristed`."""
import sys

from node.cli import main

sys.exit(main())
