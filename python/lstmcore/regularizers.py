"""Keras weight regularizers: a penalty on a layer's weights added to the loss.

    from lstmcore import regularizers
    Dense(1, kernel_regularizer=regularizers.l2(0.01))

``L1(l1)`` adds ``l1 * sum(|w|)``, ``L2(l2)`` adds ``l2 * sum(w**2)``, ``L1L2(l1, l2)`` both.
The penalty joins the loss the optimizer minimises and the loss that ``fit`` and ``evaluate``
report, as in Keras; it is computed natively with its gradient. Only trainable weights are
regularized (a frozen layer adds nothing).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize"]


def _factor(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and 0.0 <= v < 1e30):
        raise ValueError(f"regularization factor `{name}` must be a finite number >= 0; "
                         f"received {name}={value!r:.100}")
    return v


class Regularizer:
    """Base class: ``l1`` and ``l2`` factors (``__call__(w)`` gives the penalty)."""

    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        return self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum()

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """``l1 * sum(|w|)``. Default ``l1=0.01`` (Keras)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "l1")

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``. Default ``l2=0.01`` (Keras)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "l2")

    def get_config(self) -> dict:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``. Defaults 0 (Keras 3's class)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")


def l1(l1=0.01):  # noqa: D103 - Keras 2 spelling
    return L1(l1)


def l2(l2=0.01):  # noqa: D103 - Keras 2 spelling
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    """Keras 2's function: both factors default to 0.01."""
    return L1L2(l1, l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2}


def serialize(regularizer) -> dict | None:
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config):
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) \
            or not isinstance(config.get("config", {}), dict):
        raise ValueError(f"a regularizer config must be {{'class_name': ..., 'config': {{...}}}}; "
                         f"received {config!r:.100}")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"unknown regularizer {config['class_name']!r:.50}; expected L1, L2 or "
                         f"L1L2")
    try:
        return cls(**config.get("config", {}))
    except TypeError as e:
        raise ValueError(f"bad regularizer config {config!r:.100}: {e}") from None


def get(identifier):
    """A Regularizer from an instance, a name ('l1', 'l2', 'l1_l2', 'L1', ...), a config dict,
    or None."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _CLASSES:
            raise ValueError(f"unknown regularizer {identifier!r:.50}; expected 'l1', 'l2' or "
                             f"'l1_l2'")
        return {"l1": l1, "l2": l2, "l1_l2": l1_l2}.get(identifier, _CLASSES[identifier])()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"a regularizer must be an lstmcore.regularizers object, a name or a "
                     f"config; received {identifier!r:.100}")
