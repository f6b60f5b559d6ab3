"""A link as a QR code drawn in the terminal, for a phone or tablet to scan from the screen."""
from __future__ import annotations

import io

import segno
from rich.text import Text


def qr_text(url: str, border: int = 2) -> Text:
    """The link as a QR code: two modules per character (half blocks), dark on light whatever the theme."""
    qr = segno.make(url, error="m")
    rows = [list(row) for row in qr.matrix]
    size = len(rows[0]) if rows else 0
    blank = [0] * (size + 2 * border)
    grid = [blank] * border + [[0] * border + [1 if m else 0 for m in row] + [0] * border for row in rows] \
        + [blank] * border
    if len(grid) % 2:
        grid.append(blank)
    text = Text(no_wrap=True, overflow="crop")
    colour = {0: "white", 1: "black"}
    for y in range(0, len(grid), 2):
        top, bottom = grid[y], grid[y + 1]
        for a, b in zip(top, bottom):
            text.append("▀", style=f"{colour[a]} on {colour[b]}")
        if y + 2 < len(grid):
            text.append("\n")
    return text


def qr_plain(url: str) -> str:
    """The same code as plain text (segno's own compact terminal drawing), e.g. for a log or a test."""
    out = io.StringIO()
    segno.make(url, error="m").terminal(out, compact=True, border=2)
    return out.getvalue()
