"""Checks for the welcome notebook."""
from __future__ import annotations

from typing import Callable

import numpy as np

from cnncourse.checks import Case, Mistake, check_function


def _to_unit_range(image):
    return np.asarray(image, dtype=np.float64) / 255.0


_CASES = [
    Case((np.array([[0, 255]], dtype=np.uint8),), label="image=[[0, 255]] (uint8)"),
    Case((np.array([[0, 51, 102], [153, 204, 255]], dtype=np.uint8),),
         label="image=[[0, 51, 102], [153, 204, 255]] (uint8)"),
    Case((np.arange(0, 256, 17, dtype=np.uint8).reshape(4, 4),), label="a 4x4 uint8 ramp"),
    Case((np.full((2, 3), 128, dtype=np.uint8),), label="a 2x3 image of 128s"),
]


def to_unit_range(fn: Callable) -> Callable:
    """Check ``to_unit_range(image)``: uint8 image -> float image in [0, 1] (divide by 255)."""
    return check_function(
        fn, _to_unit_range, _CASES, name="to_unit_range",
        mistakes=[
            Mistake("you divided by 256; the brightest uint8 value is 255, so it must map to 1.0.",
                    wrong=lambda im: np.asarray(im, float) / 256),
            Mistake("integer division (//) keeps only 0 and 1; use / to get fractions.",
                    wrong=lambda im: np.asarray(im) // 255),
            Mistake("the image is still 0..255: divide by 255.",
                    wrong=lambda im: np.asarray(im, float)),
        ],
        hint="convert to float first (image.astype(float)), then divide by 255.",
    )
