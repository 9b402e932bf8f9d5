"""The vanishing-gradient measure (torch-free): the input layer's mean |grad| as a fraction of the last layer's,
and the fraction below which a net's gradients count as vanished. The depth sweep, the worker's frames and the
dashboard's flag, chart lines and help texts all read it from here."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

VANISHING_RATIO = 1e-3
"""An input layer getting less than this fraction of its last layer's mean |grad| is 'vanishing gradients'."""


def gradient_ratio(first: npt.ArrayLike | None, last: npt.ArrayLike | None) -> float | np.ndarray:
    """first / last, elementwise: the input layer's mean |grad| over the last layer's; NaN where `last` is missing
    (None, NaN) or not positive, or `first` is missing. Floats give a float, arrays an array of float64."""
    first, last = np.asarray(first, dtype="float64"), np.asarray(last, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(last > 0, first / np.where(last > 0, last, 1.0), np.nan)
    return float(ratio) if ratio.ndim == 0 else ratio
