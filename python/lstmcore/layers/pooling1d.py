"""1D pooling layers (Keras' ``layers.pooling``): MaxPooling1D, AveragePooling1D,
GlobalMaxPooling1D, GlobalAveragePooling1D."""

from __future__ import annotations

from .base import Layer, check_elements
from .conv1d import (
    check_3d,
    check_channels_last,
    check_padding,
    keras_name,
    one_int,
    output_steps,
)


class _Pooling1D(Layer):
    _name = ""
    _sequence_wise = True

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**keras_name(kwargs, self._kind))
        cls = self._name
        self.pool_size = one_int(pool_size, "pool_size", cls)
        self.strides = self.pool_size if strides is None else one_int(strides, "strides", cls)
        self.padding = check_padding(padding, ("valid", "same"), cls)
        self.data_format = check_channels_last(data_format, cls)

    def _sequence_input(self) -> bool:
        return True

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        self.compute_output_shape(input_shape)
        return []

    def build(self, input_shape) -> None:
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        check_3d(self._name, input_shape)
        steps = output_steps(self._name, input_shape[0], self.pool_size, self.strides,
                             self.padding, "pool_size")
        return (steps, input_shape[-1])

    def _native_config(self, input_shape) -> dict:
        return dict(pool_size=self.pool_size, strides=self.strides, padding=self.padding)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(pool_size=(self.pool_size,), strides=(self.strides,), padding=self.padding,
                      data_format=self.data_format)
        return config


class MaxPooling1D(_Pooling1D):
    """Max over windows of ``pool_size`` timesteps, ``strides`` apart, per channel.

    Args:
        pool_size: window length, an int or a tuple of one int. Default: 2.
        strides: step between windows; None means ``pool_size``. Default: None.
        padding: ``'valid'`` or ``'same'`` (output length ``ceil(steps / strides)``; padded
            steps never win the max). Default: ``'valid'``.
        data_format: ``'channels_last'`` (or None) only. Default: None.

    ``(batch, steps, features)`` -> ``(batch, new_steps, features)`` with ``new_steps =
    floor((steps - pool_size) / strides) + 1`` for ``'valid'``. The gradient goes to each
    window's first maximum (TensorFlow's choice on ties).

    >>> from lstmcore.layers import MaxPooling1D
    >>> MaxPooling1D(2).compute_output_shape((9, 4))
    (4, 4)
    """

    _kind = "max_pooling1d"
    _name = "MaxPooling1D"


class AveragePooling1D(_Pooling1D):
    """Mean over windows of ``pool_size`` timesteps, ``strides`` apart, per channel.

    Args:
        pool_size: window length, an int or a tuple of one int. Default: 2.
        strides: step between windows; None means ``pool_size``. Default: None.
        padding: ``'valid'`` or ``'same'`` (output length ``ceil(steps / strides)``; a window
            that overlaps the padding averages only its steps inside the input, as
            TensorFlow and JAX do). Default: ``'valid'``.
        data_format: ``'channels_last'`` (or None) only. Default: None.

    ``(batch, steps, features)`` -> ``(batch, new_steps, features)``.

    >>> from lstmcore.layers import AveragePooling1D
    >>> AveragePooling1D(3, strides=1, padding="same").compute_output_shape((9, 4))
    (9, 4)
    """

    _kind = "average_pooling1d"
    _name = "AveragePooling1D"


class _GlobalPooling1D(Layer):
    _name = ""
    _sequence_wise = True

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**keras_name(kwargs, self._kind))
        self.data_format = check_channels_last(data_format, self._name)
        self.keepdims = bool(keepdims)

    def _sequence_input(self) -> bool:
        return True

    def _weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        self.compute_output_shape(input_shape)
        return []

    def build(self, input_shape) -> None:
        self.input_shape = (None,) + tuple(input_shape)
        self.output_shape = (None,) + self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        check_3d(self._name, input_shape)
        out = (1, input_shape[-1]) if self.keepdims else (input_shape[-1],)
        check_elements(out, self._name)
        return out

    def _native_config(self, input_shape) -> dict:
        return {"keepdims": self.keepdims}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over all timesteps, per channel.

    Args:
        data_format: ``'channels_last'`` (or None) only. Default: None.
        keepdims: keep the time axis (of length 1). Default: False.

    ``(batch, steps, features)`` -> ``(batch, features)`` (``(batch, 1, features)`` with
    ``keepdims=True``). The gradient goes to the first maximum.

    >>> from lstmcore.layers import GlobalMaxPooling1D
    >>> GlobalMaxPooling1D().compute_output_shape((9, 4))
    (4,)
    """

    _kind = "global_max_pooling1d"
    _name = "GlobalMaxPooling1D"


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over all timesteps, per channel; under a Keras mask (Embedding(mask_zero=True),
    Masking), the mean over the timesteps used.

    Args:
        data_format: ``'channels_last'`` (or None) only. Default: None.
        keepdims: keep the time axis (of length 1). Default: False.

    ``(batch, steps, features)`` -> ``(batch, features)`` (``(batch, 1, features)`` with
    ``keepdims=True``).

    >>> from lstmcore.layers import GlobalAveragePooling1D
    >>> GlobalAveragePooling1D(keepdims=True).compute_output_shape((9, 4))
    (1, 4)
    """

    _kind = "global_average_pooling1d"
    _name = "GlobalAveragePooling1D"
    _supports_masking = True  # Keras: the mean over the timesteps a mask uses

    def _output_mask(self, input_masked: bool) -> bool:
        return False  # the time axis is gone (or of length 1): the mask ends here


# Keras' aliases, known to deserialize too
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
for _alias, _cls in (("MaxPool1D", MaxPool1D), ("AvgPool1D", AvgPool1D),
                     ("GlobalMaxPool1D", GlobalMaxPool1D), ("GlobalAvgPool1D", GlobalAvgPool1D)):
    Layer._classes[_alias] = _cls
