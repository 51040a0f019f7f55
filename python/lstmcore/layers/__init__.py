"""Keras-compatible layers: ``from lstmcore.layers import LSTM, Dense``."""

from .activation import Activation
from .base import Layer
from .bidirectional import Bidirectional
from .dense import Dense
from .dropout import Dropout
from .lstm import LSTM
from .repeat_vector import RepeatVector
from .time_distributed import TimeDistributed

__all__ = ["Layer", "LSTM", "Dense", "Activation", "Dropout", "TimeDistributed", "RepeatVector",
           "Bidirectional", "serialize", "deserialize"]

_CLASSES = {c.__name__: c for c in (LSTM, Dense, Activation, Dropout, TimeDistributed,
                                    RepeatVector, Bidirectional)}


def serialize(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict):
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"a layer config must be a dict with 'class_name' and 'config'; "
                         f"received {config!r:.200}")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"unknown layer class {config['class_name']!r}; expected one of "
                         f"{', '.join(sorted(_CLASSES))}")
    return cls.from_config(dict(config["config"]))
