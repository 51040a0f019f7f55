"""Conv1D: a 1D convolution over the timestep axis (also under Keras 2's ``layers.convolutional``)."""

from __future__ import annotations

from .. import activations, initializers
from .base import Layer, _show, _unique_name, check_elements, check_positive_int

PADDINGS = ("valid", "same", "causal")


def one_int(value, arg: str, layer: str) -> int:
    """An int given as itself or as a tuple/list of one int (Keras' 1D spelling)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"`{layer}` expects `{arg}` to be an integer or a tuple of one "
                             f"integer; received {arg}={_show(value)}")
        value = value[0]
    return check_positive_int(value, arg, layer)


def check_padding(value, allowed, layer: str) -> str:
    name = value.lower() if isinstance(value, str) else None
    if name not in allowed:
        raise ValueError(f"`{layer}` expects `padding` to be one of "
                         f"{', '.join(repr(p) for p in allowed)}; received padding={_show(value)}")
    return name


def check_channels_last(value, layer: str) -> str:
    if value in (None, "channels_last"):
        return "channels_last"
    if value == "channels_first":
        raise ValueError(f"`{layer}` supports data_format='channels_last' only: inputs "
                         f"(batch, steps, channels); received data_format='channels_first'. "
                         f"Transpose the input with `x.transpose(0, 2, 1)` instead.")
    raise ValueError(f"`{layer}` expects `data_format` 'channels_last' (or None); received "
                     f"data_format={_show(value)}")


def output_steps(layer: str, steps, span: int, strides: int, padding: str, what: str):
    """Keras' output length of a 1D window op over `steps` (None: unknown), or ValueError."""
    if steps is None:
        return None
    if padding != "valid":
        return -(-steps // strides)
    if steps < span:
        raise ValueError(f"`{layer}` with padding='valid' needs at least {what} = {span} "
                         f"timesteps: the output has floor((timesteps - {span}) / strides) + 1 "
                         f"steps, and the input has {steps}. Use padding='same' or longer "
                         f"sequences.")
    return (steps - span) // strides + 1


def keras_name(kwargs: dict, prefix: str) -> dict:
    """Keras' default name (``conv1d``, ``max_pooling1d_2``...) rather than the snake-cased
    class name (``conv1_d``)."""
    if kwargs.get("name") is None:
        kwargs["name"] = _unique_name(prefix)
    return kwargs


def check_3d(layer: str, input_shape) -> None:
    if len(input_shape) != 2:
        raise ValueError(f"`{layer}` expects 3D input (samples, timesteps, channels); received "
                         f"a per-sample shape {tuple(input_shape)}")
    if input_shape[-1] is None:
        raise ValueError(f"`{layer}` needs a known number of channels (the last input axis)")


class Conv1D(Layer):
    """1D convolution over the timestep axis (temporal convolution).

    Args:
        filters: number of output channels.
        kernel_size: taps of the convolution window, an int or a tuple of one int.
        strides: step between output positions, an int or a tuple of one int. Default: 1.
        padding: ``'valid'`` (no padding), ``'same'`` (output length ``ceil(steps /
            strides)``; Keras' split: the odd padded step on the right) or ``'causal'``
            (``dilation_rate * (kernel_size - 1)`` zeros on the left: output ``t`` sees no
            input after ``t``). Default: ``'valid'``.
        data_format: ``'channels_last'`` (or None) only. Default: None.
        dilation_rate: step between taps; ``strides > 1`` with ``dilation_rate > 1`` is
            refused (as Keras does). Default: 1.
        activation: activation name, or None for linear. Default: None.
        use_bias: Default: True.
        kernel_initializer, bias_initializer: Defaults: ``'glorot_uniform'``, ``'zeros'``.

    ``(batch, steps, channels)`` -> ``(batch, new_steps, filters)`` with ``new_steps =
    floor((steps - (kernel_size - 1) * dilation_rate - 1) / strides) + 1`` for ``'valid'``,
    ``ceil(steps / strides)`` otherwise. Kernel ``(kernel_size, channels, filters)``, bias
    ``(filters,)`` (Keras 3).

    >>> from lstmcore.layers import Conv1D
    >>> Conv1D(64, 3).compute_output_shape((100, 32))
    (98, 64)
    """

    _weight_names = ("kernel", "bias")
    _kind = "conv1d"
    _sequence_wise = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**keras_name(kwargs, "conv1d"))
        self.filters = check_positive_int(filters, "filters", "Conv1D")
        self.kernel_size = one_int(kernel_size, "kernel_size", "Conv1D")
        self.strides = one_int(strides, "strides", "Conv1D")
        self.padding = check_padding(padding, PADDINGS, "Conv1D")
        self.data_format = check_channels_last(data_format, "Conv1D")
        self.dilation_rate = one_int(dilation_rate, "dilation_rate", "Conv1D")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(f"`Conv1D`: `strides > 1` not supported in conjunction with "
                             f"`dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _sequence_input(self) -> bool:
        return True

    def _span(self) -> int:
        return (self.kernel_size - 1) * self.dilation_rate + 1

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        self.compute_output_shape(input_shape)
        kernel = (self.kernel_size, int(input_shape[-1]), self.filters)
        check_elements(kernel, "Conv1D")
        return [kernel, (self.filters,)] if self.use_bias else [kernel]

    def build(self, input_shape) -> None:
        shapes = self._weight_shapes(input_shape)
        self.kernel = initializers.make(self.kernel_initializer, shapes[0])
        self._weights = [self.kernel]
        self.bias = None
        if self.use_bias:
            self.bias = initializers.make(self.bias_initializer, shapes[1])
            self._weights.append(self.bias)
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        check_3d("Conv1D", input_shape)
        what = "(kernel_size - 1) * dilation_rate + 1"
        steps = output_steps("Conv1D", input_shape[0], self._span(), self.strides, self.padding,
                             what)
        out = (steps, self.filters)
        check_elements(out, "Conv1D")
        return out

    def _native_config(self, input_shape) -> dict:
        return dict(filters=self.filters, kernel_size=self.kernel_size,
                    input_dim=int(input_shape[-1]), strides=self.strides,
                    dilation_rate=self.dilation_rate, padding=self.padding,
                    activation=self.activation)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=(self.kernel_size,),
                      strides=(self.strides,), padding=self.padding, data_format=self.data_format,
                      dilation_rate=(self.dilation_rate,), activation=self.activation,
                      use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer)
        return config


Convolution1D = Conv1D  # Keras 2's alias, known to deserialize too
Layer._classes["Convolution1D"] = Conv1D
