"""Element-wise activations and their derivatives (Keras 3 definitions).

Every function computes in the floating dtype of its input (integer input is
promoted to float64); nothing is ever cast to float32.
"""

import numpy as np

ACTIVATIONS = (
    "linear",
    "sigmoid",
    "hard_sigmoid",
    "hard_sigmoid_keras2",
    "tanh",
    "relu",
    "softmax",
)


def as_float(x):
    """Return ``x`` as an ndarray with a floating dtype (ints -> float64)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def check_activation(name):
    """Raise ValueError if ``name`` is not a known activation."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}"
        )


def sigmoid(x):
    """Numerically stable logistic sigmoid; no overflow for any x (incl. +-inf)."""
    x = as_float(x)
    out = np.empty_like(x)
    pos = x >= 0
    neg = ~pos  # also holds NaN, which propagates through exp
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[neg])
    out[neg] = e / (1 + e)
    return out


def softmax(x):
    """Softmax over the last axis (max-subtracted)."""
    x = as_float(x)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def activation_forward(name, x):
    """y = act(x); same shape and dtype as x."""
    check_activation(name)
    x = as_float(x)
    if name == "linear":
        return x.copy()
    if name == "sigmoid":
        return sigmoid(x)
    if name == "hard_sigmoid":
        # Keras 3: relu6(x + 3) / 6
        return np.clip(x + 3, 0, 6) / 6
    if name == "hard_sigmoid_keras2":
        return np.clip(0.2 * x + 0.5, 0, 1)
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0)
    return softmax(x)


def activation_backward(name, y, dy):
    """dx = dL/dx given the activation OUTPUT y = act(x) and dy = dL/dy.

    Shapes of y, dy and dx are equal. Kinks (relu at 0, hard sigmoids at
    their saturation points) get derivative 0.
    """
    check_activation(name)
    y = as_float(y)
    dy = as_float(dy)
    if name == "linear":
        return dy.copy()
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "tanh":
        return dy * (1 - y * y)
    if name == "relu":
        return dy * (y > 0)
    if name == "hard_sigmoid":
        return dy * ((y > 0) & (y < 1)) / 6
    if name == "hard_sigmoid_keras2":
        return 0.2 * (dy * ((y > 0) & (y < 1)))
    # softmax (last axis)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
