"""Selective forwarding of room media with aiortc: entry `media.sfu.Room` (see its docstring).

This package never imports ``node``.
"""


class Glare(ValueError):
    """A client offered while an offer from the room to it was outstanding (it answers that first)."""
