"""Plain NumPy reference implementation of lstmcore (ground truth for tests).

Pure NumPy; imports nothing from the parent package. Every function computes
in the (floating) dtype of its inputs and never casts to float32. Numerics
follow Keras 3.
"""

from .activations import ACTIVATIONS, activation_backward, activation_forward, sigmoid, softmax
from .dense import dense_backward, dense_forward
from .embedding import embedding_backward, embedding_forward
from .gemm import gemm
from .gru import gru_backward, gru_forward
from .layers import (
                          MERGE_MODES,
                          bidirectional_backward,
                          bidirectional_forward,
                          repeat_vector_backward,
                          repeat_vector_forward,
)
from .losses import EPSILON, LOSSES, METRICS, loss_backward, loss_forward, metric
from .lstm import lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from .model import LAYER_TYPES, LAYERS, ReferenceSequential, RefLayer
from .optimizers import adam_step, rmsprop_step, sgd_step
from .simple_rnn import simple_rnn_backward, simple_rnn_forward

__all__ = [
    "ACTIVATIONS",
    "EPSILON",
    "LAYER_TYPES",
    "LAYERS",
    "LOSSES",
    "MERGE_MODES",
    "METRICS",
    "ReferenceSequential",
    "RefLayer",
    "activation_backward",
    "activation_forward",
    "adam_step",
    "bidirectional_backward",
    "bidirectional_forward",
    "dense_backward",
    "dense_forward",
    "embedding_backward",
    "embedding_forward",
    "gemm",
    "gru_backward",
    "gru_forward",
    "loss_backward",
    "loss_forward",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "metric",
    "repeat_vector_backward",
    "repeat_vector_forward",
    "rmsprop_step",
    "sgd_step",
    "sigmoid",
    "simple_rnn_backward",
    "simple_rnn_forward",
    "softmax",
]
