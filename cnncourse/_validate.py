"""Argument checks shared by the library's modules, one convention: ``check(value, name, **options)``.

Each returns the value converted (an ndarray, an int, a float) or raises an error whose message
starts with the argument's name and says what was expected and what came: ``ValueError`` for a
wrong value or shape, :class:`ArgumentTypeError` (a ``TypeError`` that is also a ``ValueError``)
for a wrong type or dtype. Modules keep one-line specialisations for their own shapes (e.g.
``segmentation._image``); the mechanics and the wording live here. NumPy only.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["ArgumentTypeError", "array", "labels", "binary", "integer", "unit", "spacing"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type or dtype (catchable as either ``TypeError`` or ``ValueError``)."""


def array(value, name: str, *, ndim=None, shape: str | None = None, kinds: str | None = None,
          what: str = "a numeric array", dtype=None, hint: str = "") -> np.ndarray:
    """``value`` as an ndarray (of ``dtype`` if given) with ``ndim`` dimensions (an int or a tuple
    of allowed ones) and a dtype kind in ``kinds`` (e.g. ``"biuf"``, ``"b"``).

    ``shape`` names the expected layout in the message, e.g. ``"(D, H, W)"``; ``what`` describes the
    expected dtype (``"a bool array"``); ``hint`` is appended to the dtype message.

    Examples
    --------
    >>> array([[1, 2]], "x", ndim=2).shape
    (1, 2)
    >>> array([1, 2], "volume", ndim=3, shape="(D, H, W)")
    Traceback (most recent call last):
    ValueError: volume: expected shape (D, H, W), got (2,)
    """
    if dtype is not None:
        try:
            a = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{name}: expected an array of numbers, got "
                                    f"{type(value).__name__}") from None
    else:
        a = np.asarray(value)
    if kinds is not None and a.dtype.kind not in kinds:
        raise ArgumentTypeError(f"{name}: expected {what}, got dtype {a.dtype}{hint}")
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if ndims is not None and a.ndim not in ndims:
        if shape:
            raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name}: expected a {want} array, got shape {a.shape}")
    return a


def labels(value, name: str, *, n: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Integer class labels, int64 of shape ``(n,)``, in ``[0, n_classes)``; bools and whole-number
    floats are accepted.

    Examples
    --------
    >>> labels([0, 1.0, True], "y", n=3, n_classes=2).tolist()
    [0, 1, 1]
    """
    y = np.asarray(value)
    if y.ndim != 1 or (n is not None and y.shape[0] != n):
        want = f"shape ({n},) (one label per sample)" if n is not None else "a 1-D array of labels"
        raise ValueError(f"{name}: expected {want}, got {y.shape}")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"{name}: expected integer class labels, got dtype {y.dtype}")
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        only = " (labels 0 and 1 only)" if n_classes == 2 else ""
        raise ValueError(f"{name}: labels must lie in [0, {n_classes}){only}, got "
                         f"{y.min()}..{y.max()}")
    return y.astype(np.int64)


def binary(value, name: str) -> np.ndarray:
    """A 0/1 or boolean array as bool; anything else (probabilities, labels > 1) raises."""
    mask = np.asarray(value)
    if mask.dtype == bool:
        return mask
    if mask.dtype.kind not in "biuf":
        raise ArgumentTypeError(f"{name}: expected a boolean or 0/1 array, got dtype {mask.dtype}")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError(f"{name}: expected a binary mask (bool or 0/1); it has other values "
                         f"(e.g. {mask[(mask != 0) & (mask != 1)].flat[0]!r}). Threshold "
                         "probabilities first (prob > 0.5) and turn instance labels into a mask "
                         "(labels > 0).")
    return mask.astype(bool)


def integer(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (bools are not ints here).

    Examples
    --------
    >>> integer(3, "n", minimum=1)
    3
    >>> integer(0, "n", minimum=1)
    Traceback (most recent call last):
    ValueError: n: expected an int >= 1, got 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name}: expected an int, got {type(value).__name__}")
    if maximum is not None and minimum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{name}: expected an int from {minimum} to {maximum}, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected an int <= {maximum}, got {value}")
    return int(value)


def unit(value, name: str) -> float:
    """``value`` as a float in [0, 1]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name}: expected a number in [0, 1], got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1], got {value}")
    return float(value)


def spacing(value, name: str = "spacing") -> np.ndarray:
    """Voxel size: 3 positive finite numbers ``(z, y, x)``, as float64."""
    s = np.asarray(value, dtype=float)
    if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{name}: expected 3 positive numbers (z, y, x), got {s.tolist()}")
    return s
