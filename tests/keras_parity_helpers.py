"""What the Keras parity test files share (imported by them; no keras import here): Keras
calls silenced, random float32 data, and weights copied from a Keras model into lstmcore's."""

import contextlib
import warnings

import numpy as np


@contextlib.contextmanager
def quiet():
    """Keras emits its own Deprecation/User warnings (NumPy 2, ``input_shape``): every Keras
    call runs in here, so that the suite's strict warning filter still applies to lstmcore."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def rand(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def copy_weights(km, model, seed=1, scale=0.5):
    """Random N(0, scale) weights into the Keras model, then Keras' list into lstmcore."""
    rng = np.random.default_rng(seed)
    with quiet():
        shapes = [w.shape for w in km.get_weights()]
        km.set_weights([rng.normal(scale=scale, size=s).astype(np.float32) for s in shapes])
        kw = km.get_weights()
    # lstmcore's get_weights() order and shapes are Keras' order and shapes
    assert [w.shape for w in model.get_weights()] == [w.shape for w in kw]
    model.set_weights(kw)
    return kw


def kpredict(km, x, batch_size=None):
    with quiet():
        return np.asarray(km.predict(x, batch_size=batch_size, verbose=0))
