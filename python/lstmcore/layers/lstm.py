"""The LSTM layer (Keras layout and semantics; computed by the native core)."""

from __future__ import annotations

import numpy as np

from .. import activations
from .rnn_base import _RecurrentBase


class LSTM(_RecurrentBase):
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

    _regularizer_args = {"kernel_regularizer": "kernel", "recurrent_regularizer": "recurrent_kernel",
                         "bias_regularizer": "bias"}
    _kind = "lstm"
    _gates = 4  # i, f, c, o side by side (Keras layout)
    _n_states = 2  # h and c

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        self._init_common(units, activation, use_bias, kernel_initializer,
                          recurrent_initializer, bias_initializer, dropout, recurrent_dropout,
                          return_sequences, return_state, go_backwards, stateful, unroll)
        self.recurrent_activation = activations.get(recurrent_activation)
        if self.recurrent_activation == "softmax":
            raise ValueError("`LSTM` cannot use recurrent_activation='softmax'; use it in a "
                             "Dense layer")
        self.unit_forget_bias = bool(unit_forget_bias)

    def _init_bias(self, bias) -> None:
        if self.unit_forget_bias:  # Keras: the forget gate's bias starts at 1
            bias[self.units:2 * self.units] = 1.0

    def _native_config(self, input_shape) -> dict:
        return dict(super()._native_config(input_shape),
                    recurrent_activation=self.recurrent_activation)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      unit_forget_bias=self.unit_forget_bias)
        return config

    def _run(self, x, states):
        from .. import _core
        h0, c0 = states if states is not None else (None, None)
        p = _core.lstm_forward(x, self.kernel, self.recurrent_kernel, self.bias, h0, c0,
                               self.activation, self.recurrent_activation, self.go_backwards)
        return (np.array(p.outputs) if self.return_sequences else None), [p.h, p.c]
