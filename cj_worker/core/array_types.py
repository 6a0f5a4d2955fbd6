"""The array aliases every module of the project shares, defined once.

Essay positions are ``intp`` (numpy's index type), pair keys and counts ``int64``
(``low * n + high`` overflows 32 bits past 46,000 essays), scores ``float64``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
KeyArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

__all__ = ["BoolArray", "FloatArray", "IntArray", "KeyArray"]
