"""Input conversion and validation shared by fit/evaluate/predict.

float32 C-contiguous arrays pass through untouched (the native core reads them in place);
anything else is converted once. Every check raises a ValueError saying what was expected,
what was received and how to fix it, before anything in the model changes.
"""

from __future__ import annotations

import numpy as np

from . import _core


def as_float32(x, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous:
        return x
    if x is None:
        raise ValueError(f"`{name}` is required; received None")
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise ValueError(f"`{name}` must be a numeric array-like; it could not be converted: {e}") from None
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise ValueError(f"`{name}` must be numeric (float or int); received an array of dtype "
                         f"{a.dtype}. Convert it with np.asarray({name}, dtype=np.float32).")
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(a, dtype=np.float32)


def check_finite(a: np.ndarray, name: str) -> None:
    if not a.size:
        return
    if a.dtype == np.float32 and a.flags.c_contiguous:
        flat = _core.first_nonfinite(a)  # one native pass, no temporary array
        if flat < 0:
            return
        bad = np.unravel_index(flat, a.shape)
    elif np.isfinite(a).all():
        return
    else:
        bad = np.argwhere(~np.isfinite(a))[0]
    value = a[tuple(bad)]
    idx = tuple(int(i) for i in bad)
    raise ValueError(f"`{name}` contains {value} at index {idx if len(idx) > 1 else idx[0]}; "
                     f"remove or impute non-finite values (values beyond float32's range "
                     f"also become inf)")


def reshape_hint(shape, want_rank: int, features=None) -> str:
    """The reshape that turns a too-flat array into (samples, timesteps, features)."""
    if want_rank != 3:
        return ""
    if len(shape) == 2:
        n, t = shape
        f = features or 1
        if features and features > 1 and t % features == 0:
            return (f" For {n} samples of {t // features} timesteps with {features} features "
                    f"each, pass `x.reshape({n}, {t // features}, {features})`.")
        return (f" For {n} samples of {t} timesteps with one feature each, pass "
                f"`x.reshape({n}, {t}, {f})`.")
    if len(shape) == 1:
        (t,) = shape
        return (f" For one sample of {t} timesteps with one feature, pass `x.reshape(1, {t}, 1)`;"
                f" for {t} samples of one timestep, `x.reshape({t}, 1, 1)`.")
    return ""


def check_batch_arg(value, name: str, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}")
    return int(value)
