"""Optimizer update rules (Keras 3 numerics), as pure functions.

Nothing is updated in place; each function returns new arrays in the dtype
of ``w`` (hyper-parameters are cast to that dtype, as Keras casts them to
the variable dtype).
"""

import numpy as np

from .activations import as_float


def sgd_step(w, g, velocity, lr, momentum=0.0, nesterov=False, decay=0.0, iterations=0):
    """One SGD update -> (w_new, velocity_new). w, g, velocity: same shape.

    lr_t = lr / (1 + decay * iterations) (Keras 2 style decay; iterations =
    updates done before this one). momentum == 0: w - lr_t * g (velocity is
    returned unchanged, may be None). Otherwise v = momentum * v - lr_t * g and
    w + v, or with nesterov w + (momentum * v - lr_t * g).
    """
    w = as_float(w)
    dt = w.dtype
    g = as_float(g).astype(dt, copy=False)
    lr_t = dt.type(lr) / (dt.type(1) + dt.type(decay) * dt.type(iterations))
    if momentum == 0:
        return w - g * lr_t, velocity
    mom = dt.type(momentum)
    v = as_float(velocity).astype(dt, copy=False)
    v_new = v * mom - g * lr_t
    if nesterov:
        w_new = w + (v_new * mom - g * lr_t)
    else:
        w_new = w + v_new
    return w_new, v_new


def adam_step(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """One Adam update -> (w_new, m_new, v_new); t is the 1-based step number.

    m += (g - m) * (1 - b1); v += (g^2 - v) * (1 - b2);
    lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); w - (m * lr_t) / (sqrt(v) + eps).
    """
    w = as_float(w)
    dt = w.dtype
    g = as_float(g).astype(dt, copy=False)
    m = as_float(m).astype(dt, copy=False)
    v = as_float(v).astype(dt, copy=False)
    step = dt.type(t)
    b1_pow = dt.type(beta_1) ** step
    b2_pow = dt.type(beta_2) ** step
    lr_t = dt.type(lr) * np.sqrt(dt.type(1) - b2_pow) / (dt.type(1) - b1_pow)
    m_new = m + (g - m) * dt.type(1 - beta_1)
    v_new = v + (np.square(g) - v) * dt.type(1 - beta_2)
    w_new = w - (m_new * lr_t) / (np.sqrt(v_new) + dt.type(epsilon))
    return w_new, m_new, v_new


def rmsprop_step(w, g, v, lr=0.001, rho=0.9, epsilon=1e-7):
    """One RMSprop update (no momentum, not centered) -> (w_new, v_new).

    v = rho * v + (1 - rho) * g^2; w - (lr * g) / sqrt(v + eps).
    """
    w = as_float(w)
    dt = w.dtype
    g = as_float(g).astype(dt, copy=False)
    v = as_float(v).astype(dt, copy=False)
    v_new = dt.type(rho) * v + dt.type(1 - rho) * np.square(g)
    w_new = w - (dt.type(lr) * g) / np.sqrt(v_new + dt.type(epsilon))
    return w_new, v_new
