"""Per-step streaming: ``stream = model.streaming(batch_size=1)``; ``stream.step(x_t)`` runs
one timestep ``(batch, features)`` through the model and returns its output for that step,
with every recurrent layer's state kept natively between calls.

The stream is a native executor of its own over the model's weights (shared, not copied: a
later ``fit`` is seen by the stream), in which the recurrent layers that read the input's
time axis carry their state from step to step. Layers after the one that ends the sequence
(``return_sequences=False``) run as in ``predict``, on what that layer gives at this step, so
``step`` returns what ``predict(x[:, :t + 1])`` gives (or ``predict(x)[:, t]`` for a sequence
output).
"""

from __future__ import annotations

import numpy as np

from . import _core
from .layers.base import check_positive_int


def _refuse(layer, why: str):
    raise ValueError(f"this model cannot stream: layer `{layer.name}` ({type(layer).__name__}) "
                     f"{why}. Streaming runs one timestep at a time through layers that read "
                     f"the sequence step by step (LSTM, GRU, SimpleRNN, Dense, Activation, "
                     f"Dropout, TimeDistributed, Embedding).")


class Stream:
    """One timestep at a time through a model (see the module's doc)."""

    def __init__(self, model, batch_size=1):
        batch_size = check_positive_int(batch_size, "batch_size", "streaming")
        if not model.built:
            raise ValueError("the model has not been built yet: give the first layer "
                             "`input_shape=` (or call fit/predict) before streaming")
        spec = tuple(model._input_shape)
        indices = bool(model.layers) and model.layers[0]._integer_input
        if indices:
            if len(spec) != 1:
                _refuse(model.layers[0], "takes a 2D index input")
            shape, features = (1,), 1
        else:
            if len(spec) != 2:
                raise ValueError(f"streaming needs a model of sequences (samples, timesteps, "
                                 f"features); this model's input shape is {model.input_shape}")
            shape, features = (1, spec[1]), spec[1]
        self._model = model
        net = _core.Network(model._guard.weights)
        in_time = True  # does the current activation still run along the input's time?
        self._recurrent = []
        for layer in model.layers:
            kind, config, params = layer._native_spec(shape)
            if in_time:
                recurrent = getattr(layer, "_n_states", 0) > 0
                if type(layer).__name__ == "Bidirectional":
                    _refuse(layer, "reads the sequence backwards as well, so no output exists "
                                   "before the sequence has ended")
                if getattr(layer, "mask_zero", False) or type(layer).__name__ == "Masking":
                    _refuse(layer, "starts a mask; a stream has no padding to skip")
                ok = recurrent or layer._timestep_wise or layer._integer_input or \
                    type(layer).__name__ == "TimeDistributed"
                if not ok:
                    _refuse(layer, "needs the whole sequence at once")
                if recurrent:
                    config["stateful"] = True
                    self._recurrent.append(layer)
                    in_time = layer.return_sequences
            net.add(kind, config, params)
            shape = layer.compute_output_shape(shape)
        net.stream_setup(batch_size, int(features), indices, in_time)
        self._net = net
        self.batch_size = batch_size
    def step(self, x_t):
        """One timestep ``(batch, features)`` (token indices ``(batch,)`` for a model that
        starts with an Embedding): the model's output for it, ``(batch, outputs)``. A wrong
        shape or a NaN is a ValueError and leaves the state as it was."""
        return self._net.step(x_t)

    def reset(self) -> None:
        """Zero every recurrent layer's state (a new sequence)."""
        self._net.reset_states()

    def get_state(self) -> list:
        """A snapshot of the state: per recurrent layer in model order, ``(h, c)`` for an LSTM
        or ``(h,)`` for a GRU/SimpleRNN, each ``(batch, units)``."""
        return [tuple(s) for s in self._net.get_states()]

    def set_state(self, states) -> None:
        """Set the state from ``get_state()``'s form; everything is checked before anything is
        written."""
        try:
            lists = [[np.ascontiguousarray(a, dtype=np.float32) for a in layer_states]
                     for layer_states in states]
        except TypeError:
            raise ValueError("`set_state` takes a list with, per recurrent layer, a tuple of "
                             "(batch, units) arrays: (h, c) for an LSTM, (h,) otherwise") from None
        self._net.set_states(lists)

    def __repr__(self) -> str:
        return (f"<Stream of {self._model.name!r}, batch_size={self.batch_size}, "
                f"{len(self._recurrent)} recurrent layer(s)>")
