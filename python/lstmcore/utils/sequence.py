"""``Sequence``: the base class of Keras 2's batch generators (Keras 3's ``PyDataset``)."""

from __future__ import annotations


class Sequence:
    """A dataset that serves batches by index, as Keras' ``keras.utils.Sequence``.

    Subclasses implement ``__len__`` (batches per epoch) and ``__getitem__(index)``
    (returning ``(x, y)`` for batch ``index``), and may override ``on_epoch_end`` (e.g. to
    reshuffle). Iterating yields the batches in order.

    >>> import numpy as np
    >>> class Batches(Sequence):
    ...     def __init__(self, x, y, batch_size):
    ...         super().__init__()
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, i):
    ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
    ...         return self.x[s], self.y[s]
    >>> len(Batches(np.zeros((10, 3, 1)), np.zeros(10), 4))
    3

    ``fit``/``evaluate``/``predict`` (and Keras 2's ``fit_generator`` etc.) take one in place
    of arrays: an epoch is ``len()`` batches, in shuffled order with ``fit(shuffle=True)``,
    and ``on_epoch_end`` is called after each.

    Args:
        workers, use_multiprocessing, max_queue_size: Keras 3's ``PyDataset`` arguments,
            accepted and kept so that subclasses written for it construct; unused here.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        """The batch at ``index``: ``(x, y)`` (or ``(x, y, sample_weight)``)."""
        raise NotImplementedError(f"`{type(self).__name__}` must implement __getitem__(index)")

    def __len__(self):
        """The number of batches in one epoch."""
        raise NotImplementedError(f"`{type(self).__name__}` must implement __len__()")

    def on_epoch_end(self):
        """Called at the end of every epoch (override to reshuffle)."""

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


__all__ = ["Sequence"]
