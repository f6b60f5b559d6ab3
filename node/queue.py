"""Honest queue figures: a citizen's place and a rough wait estimate from recent handling times."""
from __future__ import annotations

import math
import statistics


def estimate_minutes(position: int, staff_on_duty: int, recent_durations: list[int]) -> list[int] | None:
    """``[low, high]`` minutes until someone answers a citizen at ``position`` (1 = next), or None.

    Based on the median length of recent conversations divided among the people on duty. With no
    one on duty, or no recent conversations to learn from, the node does not guess.
    """
    if staff_on_duty <= 0 or not recent_durations or position <= 0:
        return None
    median_minutes = statistics.median(recent_durations) / 60
    rounds = math.ceil(position / staff_on_duty) - 1  # conversations to finish before yours starts
    expected = rounds * median_minutes + median_minutes / 2  # a free person is about halfway through one
    low = max(0, int(expected * 0.5))
    high = max(low + 2, math.ceil(expected * 1.5))
    return [low, high]
