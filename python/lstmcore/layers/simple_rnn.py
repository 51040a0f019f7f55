"""The SimpleRNN layer and what it shares with GRU (Keras layout and semantics; computed by the
native core)."""

from __future__ import annotations

import numpy as np

from .. import activations, initializers
from .base import Layer, check_positive_int, check_rate


class _StateRNN(Layer):
    """What SimpleRNN and GRU share: one state h, the recurrent options of LSTM (Keras
    semantics), ``__call__`` on its own with ``return_state``."""

    _weight_names = ("kernel", "recurrent_kernel", "bias")
    _recurrent = True
    _supports_masking = True  # skipped timesteps carry the state through
    _gates = 1  # column blocks of the kernels

    def _output_mask(self, input_masked: bool) -> bool:
        return input_masked and self.return_sequences

    def _init_common(self, units, activation, use_bias, kernel_initializer,
                     recurrent_initializer, bias_initializer, dropout, recurrent_dropout,
                     return_sequences, return_state, go_backwards, stateful, unroll):
        cls = type(self).__name__
        self.units = check_positive_int(units, "units", cls)
        self.activation = activations.get(activation)
        if self.activation == "softmax":
            raise ValueError(f"`{cls}` cannot use activation='softmax'; use it in a Dense layer")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = check_rate(dropout, "dropout", cls)
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout", cls)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; the native loop never unrolls
        if self.stateful and self._batch_input_shape is not None and self._batch_input_shape[0] is None:
            raise ValueError(f"a stateful `{cls}` needs a fixed batch size: give the first layer "
                             f"`batch_input_shape=(batch_size, timesteps, features)`")

    def _sequence_input(self) -> bool:
        return True

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        self.compute_output_shape(input_shape)  # the input checks, in one place
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"`{type(self).__name__}` needs a known number of features (the "
                             f"last input axis)")
        G = self._gates * self.units  # gate blocks side by side (Keras layout)
        shapes = [(features, G), (self.units, G)]
        return shapes + [self._bias_shape()] if self.use_bias else shapes

    def build(self, input_shape) -> None:
        shapes = self._weight_shapes(input_shape)
        self.kernel = initializers.make(self.kernel_initializer, shapes[0])
        self.recurrent_kernel = initializers.make(self.recurrent_initializer, shapes[1])
        self._weights = [self.kernel, self.recurrent_kernel]
        if self.use_bias:
            self.bias = initializers.make(self.bias_initializer, shapes[2])
            self._weights.append(self.bias)
        else:
            self.bias = None
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"`{type(self).__name__}` expects 3D input (samples, timesteps, "
                             f"features); received a per-sample shape {tuple(input_shape)}. "
                             f"Reshape your data to (samples, timesteps, features).")
        if self.return_sequences:
            return (input_shape[0], self.units)
        return (self.units,)

    def _uses_dropout(self) -> bool:
        return self.dropout > 0 or self.recurrent_dropout > 0

    def _native_config(self, input_shape) -> dict:
        return dict(units=self.units, input_dim=int(input_shape[-1]), activation=self.activation,
                    return_sequences=self.return_sequences, stateful=self.stateful,
                    go_backwards=self.go_backwards, dropout=self.dropout,
                    recurrent_dropout=self.recurrent_dropout)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer,
                      recurrent_initializer=self.recurrent_initializer,
                      bias_initializer=self.bias_initializer, dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout,
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful)
        return config

    def _run(self, x, h0):
        raise NotImplementedError

    def __call__(self, x, initial_state=None, training=False):
        """Run the layer on its own: ``(batch, timesteps, features)`` in; the output, or
        ``[output, h]`` with ``return_state``. Uses the native kernels."""
        cls = type(self).__name__
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"`{cls}` expects 3D input (samples, timesteps, features); received "
                             f"`x` with shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:])
        h0 = None
        if initial_state is not None:
            if isinstance(initial_state, (list, tuple)):
                if len(initial_state) != 1:
                    raise ValueError(f"`{cls}` has one state (h); received {len(initial_state)} "
                                     f"initial states")
                initial_state = initial_state[0]
            h0 = np.ascontiguousarray(initial_state, dtype=np.float32)
        outputs, h = self._run(x, h0)
        out = outputs if self.return_sequences else h
        if self.return_state:
            return [out, h]
        return out


class SimpleRNN(_StateRNN):
    """Fully-connected RNN where the output is fed back as the next input, as Keras defines it:
    ``h_t = activation(x_t W + h_{t-1} U + b)``.

    Args:
        units: dimensionality of the output and the state.
        activation: Default: ``'tanh'``.
        use_bias: Default: ``True``.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras names.
            Defaults: ``'glorot_uniform'``, ``'orthogonal'``, ``'zeros'``.
        dropout: fraction of the inputs dropped while training (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state dropped while training (one mask per
            sequence, applied to h_{t-1} in the recurrent product, as Keras).
        return_sequences: output every timestep ``(batch, timesteps, units)`` rather than
            the last ``(batch, units)``. Default: ``False``.
        return_state: also return the final ``h`` when the layer is called on its own.
        go_backwards: process the sequence in reverse. Default: ``False``.
        stateful: carry the final state of sample i of a batch into sample i of the next
            batch, until ``reset_states()``. Needs a fixed batch size (``batch_input_shape``).

    Weights (Keras order): ``kernel (features, units)``, ``recurrent_kernel (units, units)``,
    ``bias (units,)``.

    >>> from lstmcore.layers import SimpleRNN
    >>> SimpleRNN(3, input_shape=(5, 2)).compute_output_shape((5, 2))
    (3,)
    """

    _kind = "simple_rnn"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, **kwargs):
        super().__init__(**kwargs)
        self._init_common(units, activation, use_bias, kernel_initializer,
                          recurrent_initializer, bias_initializer, dropout, recurrent_dropout,
                          return_sequences, return_state, go_backwards, stateful, unroll)

    def _run(self, x, h0):
        from .. import _core
        return _core.simple_rnn_forward(x, self.kernel, self.recurrent_kernel, self.bias, h0,
                                        self.activation, self.go_backwards)
