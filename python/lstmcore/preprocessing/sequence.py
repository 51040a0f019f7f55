"""Keras 2's ``keras.preprocessing.sequence``: ``pad_sequences``.

>>> from lstmcore.preprocessing.sequence import pad_sequences
>>> pad_sequences([[1], [2, 3], [4, 5, 6]])
array([[0, 0, 1],
       [0, 2, 3],
       [4, 5, 6]], dtype=int32)
"""

from __future__ import annotations

import numpy as np

_MAX_ECHO = 100


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_ECHO else f"{text[:_MAX_ECHO]}... ({len(text)} characters)"


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or cut) sequences to one length, as Keras' ``pad_sequences``.

    Args:
        sequences: a list (or array) of sequences; each sequence a list or array of values,
            or of equal-shaped vectors (then the result has those trailing dimensions).
        maxlen: the length of every output row. Default: the longest sequence's length.
        dtype: the output dtype. Default: ``'int32'`` (as Keras: pass ``'float32'`` for real
            values, which ``'int32'`` would truncate). Use ``object`` for strings.
        padding: ``'pre'`` (pad before the sequence) or ``'post'`` (after). Default ``'pre'``.
        truncating: ``'pre'`` (drop values from the start of sequences longer than
            ``maxlen``) or ``'post'`` (from the end). Default ``'pre'``.
        value: the padding value. Default: 0.

    Returns:
        An array of shape ``(len(sequences), maxlen) + trailing dims``.

    Where Keras fails with an internal error, this raises a ValueError saying what was
    expected: no sequences and no ``maxlen`` give an array of shape ``(0, 0)``, and
    ``maxlen=0`` gives rows of length 0 (Keras keeps whole sequences for ``s[-0:]``).
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"`padding` must be 'pre' or 'post'; received padding={_show(padding)}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"`truncating` must be 'pre' or 'post'; received "
                         f"truncating={_show(truncating)}")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"`sequences` must be a list of sequences, e.g. [[1, 2], [3]]; received "
                         f"{_show(sequences)}")
    if maxlen is not None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
            raise ValueError(f"`maxlen` must be a non-negative integer or None; received "
                             f"maxlen={_show(maxlen)}")
        maxlen = int(maxlen)
    lengths = []
    sample_shape = ()
    found = False
    for i, s in enumerate(sequences):  # the trailing shape comes from the first non-empty one
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(f"`sequences` must be a list of sequences (lists or arrays); the "
                             f"one at position {i} is {_show(s)}") from None
        if not found and len(s):
            sample_shape = np.asarray(s).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    is_str_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str_dtype:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}; "
                         f"set `dtype=object` for variable length strings")
    x = np.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {kept.shape[1:]} of sequence at position {i} is "
                             f"different from expected shape {sample_shape}")
        if padding == "post":
            x[i, :len(kept)] = kept
        else:
            x[i, -len(kept):] = kept
    return x


__all__ = ["pad_sequences"]
