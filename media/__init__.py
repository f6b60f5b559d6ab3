"""Selective forwarding of room media with aiortc: entry `media.sfu.Room` (see its docstring).

This package never imports ``node``.
"""
