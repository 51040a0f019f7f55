"""What the recurrent layers (LSTM, GRU, SimpleRNN) share: Keras' options and checks,
weight shapes, building, masks and the native config."""

from __future__ import annotations

import numpy as np

from .. import activations, initializers
from .base import Layer, check_positive_int, check_rate


def _symbolic(x) -> bool:
    """Whether a call is on symbolic tensors (a functional model) rather than on data."""
    from .graph import KerasTensor
    if isinstance(x, (list, tuple)) and x:
        x = x[0]
    return isinstance(x, KerasTensor)


class _RecurrentBase(Layer):
    """What LSTM, GRU and SimpleRNN share (Keras semantics): their options and their checks,
    the kernel shapes by gate count, building, masks, dropout and their native config."""

    _weight_names = ("kernel", "recurrent_kernel", "bias")
    _recurrent = True
    _supports_masking = True  # skipped timesteps carry the state through
    _gates = 1  # column blocks of the kernels
    _n_states = 1  # the states initial_state= takes and return_state=True returns

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
                             f"`batch_input_shape=(batch_size, timesteps, features)` (or "
                             f"`batch_size=` with `input_shape=`)")

    def _sequence_input(self) -> bool:
        return True

    def _run(self, x, states):
        """The native pass on its own: (the output sequence when return_sequences, else
        None; the final states), from ``states`` (a list of (B, H) arrays) or zeros."""
        raise NotImplementedError

    def __call__(self, x, initial_state=None, training=None, **kwargs):
        """On symbolic tensors: a call in a functional model (see ``Layer.__call__``). On
        data, run the layer on its own: ``(batch, timesteps, features)`` in; the output, or
        ``[output, *states]`` with ``return_state`` (LSTM: h, c; GRU, SimpleRNN: h). Uses the
        native kernels."""
        if _symbolic(x):
            return super().__call__(x, initial_state=initial_state, training=training, **kwargs)
        cls = type(self).__name__
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"`{cls}` expects 3D input (samples, timesteps, features); received "
                             f"`x` with shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:])
        states = None
        if initial_state is not None:
            items = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            if len(items) != self._n_states:
                have = "one state (h)" if self._n_states == 1 else "two states (h, c)"
                raise ValueError(f"`{cls}` has {have}; received {len(items)} initial states")
            states = [np.ascontiguousarray(s, dtype=np.float32) for s in items]
        sequence, finals = self._run(x, states)
        out = sequence if self.return_sequences else finals[0]
        return [out, *finals] if self.return_state else out

    def _init_bias(self, bias) -> None:
        """Adjust the bias just drawn (LSTM: unit_forget_bias)."""

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
            self._init_bias(self.bias)
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
