"""Keras-compatible layers: ``from lstmcore.layers import LSTM, Dense``."""

from .activation import Activation
from .base import Layer, _show
from .bidirectional import Bidirectional
from .conv1d import Conv1D, Convolution1D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten
from .gru import GRU
from .input_layer import Input, InputLayer
from .lstm import LSTM
from .masking import Masking
from .merge import Add, Average, Concatenate, Multiply, add, average, concatenate, multiply
from .pooling1d import (
    AveragePooling1D,
    AvgPool1D,
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    MaxPool1D,
    MaxPooling1D,
)
from .repeat_vector import RepeatVector
from .simple_rnn import SimpleRNN
from .time_distributed import TimeDistributed

__all__ = ["Layer", "Input", "InputLayer", "LSTM", "GRU", "SimpleRNN", "Dense", "Activation", "Dropout",
           "TimeDistributed", "RepeatVector", "Bidirectional", "Embedding", "Masking", "Conv1D",
           "Convolution1D", "MaxPooling1D", "MaxPool1D", "AveragePooling1D", "AvgPool1D",
           "GlobalMaxPooling1D", "GlobalMaxPool1D", "GlobalAveragePooling1D", "GlobalAvgPool1D",
           "Flatten", "Concatenate", "Add", "Multiply", "Average", "concatenate", "add",
           "multiply", "average", "serialize", "deserialize"]

# Every Layer subclass registers itself by class name (Layer.__init_subclass__).
_CLASSES = Layer._classes


def serialize(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict):
    """A layer from ``{"class_name": ..., "config": {...}}``; the config may come from a file,
    so anything malformed is a ValueError with the received value cut short."""
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"a layer config must be a dict with 'class_name' and 'config'; "
                         f"received {_show(config, 200)}")
    name = config["class_name"]
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown layer class {_show(name)}; expected one of "
                         f"{', '.join(sorted(_CLASSES))}")
    if not isinstance(config["config"], dict):
        raise ValueError(f"the config of a `{name}` layer must be a dict; received "
                         f"{_show(config['config'])}")
    return cls.from_config(dict(config["config"]))
