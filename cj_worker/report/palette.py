"""One colour per grade, the same in the HTML page and the PNG, without matplotlib.

Grades run from dark purple (lowest) to yellow-green (highest) along viridis, a
perceptually uniform map that stays ordered in greyscale and for the common colour-vision
deficiencies, so "darker = lower grade" holds for every reader. The map's last tenth (pale
yellow) is left out: it is hard to see on white paper.
"""

from __future__ import annotations

import itertools

NO_GRADE_COLOUR = "#7f7f7f"
"""Essays without a grade (no calibration)."""

_VIRIDIS_STOPS = (
    (0.00, (0x44, 0x01, 0x54)),
    (0.25, (0x3B, 0x52, 0x8B)),
    (0.50, (0x21, 0x91, 0x8C)),
    (0.75, (0x5E, 0xC9, 0x62)),
    (1.00, (0xFD, 0xE7, 0x25)),
)
"""Viridis at five points; interpolating between them stays within a few levels of it."""

HIGHEST_POSITION = 0.9
"""Where on the map the highest grade sits."""


def grade_colours(count: int) -> list[str]:
    """``count`` colours as ``#rrggbb``, lowest grade first."""
    if count <= 0:
        return []
    if count == 1:
        return [_viridis(HIGHEST_POSITION / 2.0)]
    return [_viridis(HIGHEST_POSITION * k / (count - 1)) for k in range(count)]


def _viridis(position: float) -> str:
    for (left, low), (right, high) in itertools.pairwise(_VIRIDIS_STOPS):
        if position <= right:
            share = (position - left) / (right - left)
            channels = (round(a + (b - a) * share) for a, b in zip(low, high, strict=True))
            return "#" + "".join(f"{channel:02x}" for channel in channels)
    raise ValueError(f"position must be in [0, 1], got {position}")
