"""Keras' ``keras.utils`` names that LSTM scripts use, and two helpers for time series.

``to_categorical`` (also under Keras 2's ``lstmcore.utils.np_utils``), ``Sequence``,
``pad_sequences`` (Keras 3 moved it here from ``keras.preprocessing.sequence``), and
``make_windows`` / ``stateful_batches``, which cut a series into the arrays ``fit`` takes.
"""

from ..preprocessing.sequence import pad_sequences
from . import np_utils
from .np_utils import _one_hot
from .sequence import Sequence
from .series import WindowSequence, make_windows, stateful_batches


def to_categorical(y, num_classes=None, dtype="float64"):
    """Class indices to one-hot rows, as Keras 3's ``keras.utils.to_categorical``.

    >>> to_categorical([0, 2])
    array([[1., 0., 0.],
           [0., 0., 1.]])

    A trailing axis of size 1 is dropped (``(n, 1)`` labels give ``(n, num_classes)``), the
    class axis goes last, and ``num_classes`` defaults to ``max(y) + 1``. Float labels are
    accepted when they hold whole numbers. Where Keras wraps a negative label round or fails
    with an IndexError, a label outside ``[0, num_classes)`` raises a ValueError.

    Args:
        y: array-like of class indices.
        num_classes: the number of classes. Default: ``max(y) + 1``.
        dtype: the output dtype. Default ``'float64'``, as Keras 3 returns (Keras 2's
            ``np_utils.to_categorical`` defaults to float32).

    Returns:
        An array of shape ``y.shape + (num_classes,)`` (without a trailing 1).
    """
    return _one_hot(y, num_classes, dtype)


__all__ = ["to_categorical", "pad_sequences", "Sequence", "make_windows", "WindowSequence",
           "stateful_batches", "np_utils"]
