"""Selective forwarding of room media with aiortc (issue: private video rooms). Not built yet.

This package never imports ``node``.
"""
