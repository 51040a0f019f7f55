"""The LSTM layer (Keras layout and semantics; computed by the native core)."""

from __future__ import annotations

import numpy as np

from .. import activations, initializers
from .base import Layer, check_positive_int, check_rate


class LSTM(Layer):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997), as Keras defines it.

    Args:
        units: dimensionality of the output and the state.
        activation: for the cell candidate and the output. Default: ``'tanh'``.
        recurrent_activation: for the input, forget and output gates; ``'hard_sigmoid'`` is
            Keras 3's ``relu6(x+3)/6``, ``'hard_sigmoid_keras2'`` the old ``clip(0.2x+0.5)``.
            Default: ``'sigmoid'``.
        use_bias: Default: ``True``.
        unit_forget_bias: initialise the forget-gate bias to 1. Default: ``True``.
        return_sequences: output every timestep ``(batch, timesteps, units)`` rather than
            the last ``(batch, units)``. Default: ``False``.
        return_state: also return the final ``[h, c]`` when the layer is called on its own.
        go_backwards: process the sequence in reverse. Default: ``False``.
        stateful: carry the final state of sample i of a batch into sample i of the next
            batch, until ``reset_states()``. Needs a fixed batch size (``batch_input_shape``).
        dropout: fraction of the inputs dropped while training (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state dropped while training (one mask per
            sequence, applied to h_{t-1} in the recurrent product, as Keras).
        kernel_initializer, recurrent_initializer, bias_initializer: Keras names.
            Defaults: ``'glorot_uniform'``, ``'orthogonal'``, ``'zeros'``.

    Input ``(batch, timesteps, features)`` -> output ``(batch, units)`` or, with
    ``return_sequences``, ``(batch, timesteps, units)``.

    >>> from lstmcore.layers import LSTM
    >>> LSTM(2, input_shape=(5, 1)).compute_output_shape((5, 1))
    (2,)
    """

    _weight_names = ("kernel", "recurrent_kernel", "bias")
    _kind = "lstm"
    _recurrent = True
    _supports_masking = True  # skipped timesteps carry the state through

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", "LSTM")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        for arg, act in (("activation", self.activation),
                         ("recurrent_activation", self.recurrent_activation)):
            if act == "softmax":
                raise ValueError(f"`LSTM` cannot use {arg}='softmax'; use it in a Dense layer")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = check_rate(dropout, "dropout", "LSTM")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout", "LSTM")
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; the native loop never unrolls
        if self.stateful and self._batch_input_shape is not None and self._batch_input_shape[0] is None:
            raise ValueError("a stateful `LSTM` needs a fixed batch size: give the first layer "
                             "`batch_input_shape=(batch_size, timesteps, features)` (or "
                             "`batch_size=` with `input_shape=`)")
        self._native = None

    def _sequence_input(self) -> bool:
        return True

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        self.compute_output_shape(input_shape)  # the input checks, in one place
        features = input_shape[-1]
        if features is None:
            raise ValueError("`LSTM` needs a known number of features (the last input axis)")
        G = 4 * self.units  # gates i, f, c, o side by side (Keras layout)
        shapes = [(features, G), (self.units, G)]
        return shapes + [(G,)] if self.use_bias else shapes

    def build(self, input_shape) -> None:
        shapes = self._weight_shapes(input_shape)
        H = self.units
        self.kernel = initializers.make(self.kernel_initializer, shapes[0])
        self.recurrent_kernel = initializers.make(self.recurrent_initializer, shapes[1])
        self._weights = [self.kernel, self.recurrent_kernel]
        if self.use_bias:
            self.bias = initializers.make(self.bias_initializer, shapes[2])
            if self.unit_forget_bias:
                self.bias[H:2 * H] = 1.0
            self._weights.append(self.bias)
        else:
            self.bias = None
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"`LSTM` expects 3D input (samples, timesteps, features); received a "
                             f"per-sample shape {tuple(input_shape)}. Reshape your data to "
                             f"(samples, timesteps, features).")
        if self.return_sequences:
            return (input_shape[0], self.units)
        return (self.units,)

    def _uses_dropout(self) -> bool:
        return self.dropout > 0 or self.recurrent_dropout > 0

    def _output_mask(self, input_masked: bool) -> bool:
        return input_masked and self.return_sequences

    def _native_config(self, input_shape) -> dict:
        return dict(units=self.units, input_dim=int(input_shape[-1]), activation=self.activation,
                    recurrent_activation=self.recurrent_activation,
                    return_sequences=self.return_sequences, stateful=self.stateful,
                    go_backwards=self.go_backwards, dropout=self.dropout,
                    recurrent_dropout=self.recurrent_dropout)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(units=self.units, activation=self.activation,
                      recurrent_activation=self.recurrent_activation, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer,
                      recurrent_initializer=self.recurrent_initializer,
                      bias_initializer=self.bias_initializer,
                      unit_forget_bias=self.unit_forget_bias, dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout,
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful)
        return config

    def __call__(self, x, initial_state=None, training=False):
        """Run the layer on its own: ``(batch, timesteps, features)`` in; the output, or
        ``[output, h, c]`` with ``return_state``. Uses the native kernels."""
        from .. import _core
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"`LSTM` expects 3D input (samples, timesteps, features); received "
                             f"`x` with shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:])
        h0 = c0 = None
        if initial_state is not None:
            h0, c0 = (np.ascontiguousarray(s, dtype=np.float32) for s in initial_state)
        p = _core.lstm_forward(x, self.kernel, self.recurrent_kernel, self.bias, h0, c0,
                               self.activation, self.recurrent_activation, self.go_backwards)
        out = np.array(p.outputs) if self.return_sequences else p.h
        if self.return_state:
            return [out, p.h, p.c]
        return out
