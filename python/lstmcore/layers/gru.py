"""The GRU layer (Keras 3 layout and semantics; computed by the native core)."""

from __future__ import annotations

from .. import activations
from .rnn_base import _RecurrentBase


class GRU(_RecurrentBase):
    """Gated Recurrent Unit (Cho et al., 2014), as Keras 3 defines it.

    Per step, with the gate blocks z (update), r (reset), h (candidate) side by side::

        z = recurrent_activation(x W_z + h U_z + b_z)
        r = recurrent_activation(x W_r + h U_r + b_r)
        hh = activation(x W_h + b_h + r * (h U_h + b_rh))   # reset_after=True
        hh = activation(x W_h + b_h + (r * h) U_h)          # reset_after=False
        h = z * h + (1 - z) * hh

    Args:
        units: dimensionality of the output and the state.
        activation: for the candidate. Default: ``'tanh'``.
        recurrent_activation: for the update and reset gates. Default: ``'sigmoid'``.
        use_bias: Default: ``True``.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras names.
            Defaults: ``'glorot_uniform'``, ``'orthogonal'``, ``'zeros'``.
        dropout: fraction of the inputs dropped while training (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state dropped while training (one mask per
            sequence, applied to h_{t-1} in the recurrent products; the update ``z * h`` uses
            h_{t-1} itself, as Keras).
        return_sequences: output every timestep ``(batch, timesteps, units)`` rather than
            the last ``(batch, units)``. Default: ``False``.
        return_state: also return the final ``h`` when the layer is called on its own.
        go_backwards: process the sequence in reverse. Default: ``False``.
        stateful: carry the final state of sample i of a batch into sample i of the next
            batch, until ``reset_states()``. Needs a fixed batch size (``batch_input_shape``).
        reset_after: apply the reset gate after the recurrent product (Keras 3's default,
            cuDNN-compatible: separate input and recurrent biases). Default: ``True``.

    Weights (Keras order): ``kernel (features, 3*units)``, ``recurrent_kernel (units,
    3*units)``, ``bias (2, 3*units)`` with ``reset_after`` (input bias, then recurrent bias),
    else ``(3*units,)``.

    >>> from lstmcore.layers import GRU
    >>> GRU(4, return_sequences=True, input_shape=(5, 2)).compute_output_shape((5, 2))
    (5, 4)
    """

    _kind = "gru"
    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, reset_after=True, **kwargs):
        super().__init__(**kwargs)
        self._init_common(units, activation, use_bias, kernel_initializer,
                          recurrent_initializer, bias_initializer, dropout, recurrent_dropout,
                          return_sequences, return_state, go_backwards, stateful, unroll)
        self.recurrent_activation = activations.get(recurrent_activation)
        if self.recurrent_activation == "softmax":
            raise ValueError("`GRU` cannot use recurrent_activation='softmax'; use it in a "
                             "Dense layer")
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple[int, ...]:
        G = 3 * self.units
        return (2, G) if self.reset_after else (G,)

    def _native_config(self, input_shape) -> dict:
        return dict(super()._native_config(input_shape),
                    recurrent_activation=self.recurrent_activation, reset_after=self.reset_after)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      reset_after=self.reset_after)
        return config

    def _run(self, x, states):
        from .. import _core
        outputs, h = _core.gru_forward(x, self.kernel, self.recurrent_kernel, self.bias,
                                       states[0] if states else None, self.activation,
                                       self.recurrent_activation, self.reset_after,
                                       self.go_backwards)
        return outputs, [h]
