"""The SimpleRNN layer (Keras layout and semantics; computed by the native core)."""

from __future__ import annotations

from .rnn_base import _RecurrentBase


class SimpleRNN(_RecurrentBase):
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

    def _run(self, x, states):
        from .. import _core
        outputs, h = _core.simple_rnn_forward(x, self.kernel, self.recurrent_kernel, self.bias,
                                              states[0] if states else None, self.activation,
                                              self.go_backwards)
        return outputs, [h]
