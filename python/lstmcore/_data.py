"""Data preparation: turn user arrays into what the native executor reads, checking every
shape, dtype, count and value before anything in the model changes (Keras' data adapters)."""

from __future__ import annotations

import math

import numpy as np

from . import _arrays


def check_targets(y, n: int, out, loss: str, name: str, output_shape) -> np.ndarray:
    """The targets of one output, checked and laid out for the native executor: float32
    ``(n, *out)``, or ``(n, steps)`` class indices for sparse categorical cross-entropy.
    ``out`` is the output's per-sample shape (None: a length that varies, taken from the
    targets; the executor checks it against the inputs) and ``output_shape`` what messages
    show."""
    if None in out:
        shape = np.shape(y)
        out = tuple(shape[1 + i] if s is None and 1 + i < len(shape) else (s or 0)
                    for i, s in enumerate(out))
    if loss == "sparse_categorical_crossentropy":
        a = np.asarray(y)
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise ValueError(f"`{name}` must hold integer class indices; received dtype {a.dtype}")
        per = math.prod(out[:-1])
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"`x` has {n} samples but `{name}` has "
                             f"{a.shape[0] if a.ndim else 0}; pass one target per sample")
        if a.size != n * per:
            raise ValueError(f"`{name}` must hold {per} class index per sample for output shape "
                             f"{output_shape}; received shape {a.shape}")
        a = _arrays.as_float32(a, name).reshape(n, per)
        _arrays.check_finite(a, name)
        classes = out[-1]
        if (a != np.floor(a)).any() or (a < 0).any() or (a >= classes).any():
            raise ValueError(f"`{name}` must hold integer class indices in [0, {classes - 1}] "
                             f"for sparse_categorical_crossentropy; received values in "
                             f"[{a.min()}, {a.max()}]")
        return np.ascontiguousarray(a)
    a = _arrays.as_float32(y, name)
    if a.ndim == 0 or a.shape[0] != n:
        raise ValueError(f"`x` has {n} samples but `{name}` has {a.shape[0] if a.ndim else 0}; "
                         f"pass one target per sample")
    per = math.prod(out)
    if a.size != n * per:
        hint = ""
        if loss == "categorical_crossentropy" and a.size == n:
            hint = (" For integer class labels use loss='sparse_categorical_crossentropy' or "
                    "one-hot encode them.")
        raise ValueError(f"`{name}` must have shape {(n,) + tuple(out)} to match the model's "
                         f"output {output_shape}; received shape {a.shape}.{hint}")
    _arrays.check_finite(a, name)
    return a.reshape((n,) + tuple(out))


class DataPrep:
    """Argument and array checks for a model with layers and an input shape."""

    # ---- the layout of prepared data: one array here (a functional model: lists) -----------
    @staticmethod
    def _n(x) -> int:
        return x.shape[0]

    @staticmethod
    def _take(a, rows: slice):
        return None if a is None else np.ascontiguousarray(a[rows])

    @staticmethod
    def _native_targets(y, n: int):
        return y.reshape(n, -1)

    # ---- data preparation ---------------------------------------------------------------------
    def _first_layer_sequence(self) -> bool:
        return bool(self.layers) and self.layers[0]._sequence_input()

    def _prepare_x(self, x, name="x") -> np.ndarray:
        if not self.layers:
            raise ValueError("this model has no layers: add some with `model.add(...)`")
        self.layers[0]._check_model_input(x, name)
        a = _arrays.as_float32(x, name)
        if self._input_shape is not None:
            want_rank = len(self._input_shape) + 1
        else:
            want_rank = 3 if self._first_layer_sequence() else 2
        first = type(self.layers[0]).__name__
        if a.ndim != want_rank:
            if want_rank == 3:
                feats = self._input_shape[-1] if self._input_shape else None
                raise ValueError(f"`{first}` expects 3D input (samples, timesteps, features); "
                                 f"received `{name}` with shape {a.shape}."
                                 + _arrays.reshape_hint(a.shape, 3, feats))
            raise ValueError(f"`{first}` expects {want_rank}D input; received `{name}` with shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"`{name}` has no samples (shape {a.shape})")
        if want_rank == 3 and a.shape[1] == 0:
            raise ValueError(f"`{name}` has zero timesteps (shape {a.shape}); every sample needs "
                             f"at least one timestep")
        if self._input_shape is not None:
            spec = self._input_shape
            if spec[-1] is not None and a.shape[-1] != spec[-1]:
                raise ValueError(f"the model expects {spec[-1]} features per "
                                 f"{'timestep' if want_rank == 3 else 'sample'} (input shape "
                                 f"{self.input_shape}); received `{name}` with shape {a.shape}")
            if want_rank == 3 and spec[0] is not None and a.shape[1] != spec[0]:
                raise ValueError(f"the model was defined with {spec[0]} timesteps (input shape "
                                 f"{self.input_shape}); received `{name}` with shape {a.shape}. "
                                 f"Use input_shape=(None, {spec[-1]}) to accept any length.")
            if want_rank == 4:
                self._check_subsequences(a, name)
        _arrays.check_finite(a, name)
        if want_rank == 4:  # the native side reads (samples, subsequences, steps * features)
            a = a.reshape(a.shape[0], a.shape[1], -1)
        return a

    def _check_subsequences(self, a, name) -> None:
        """4D input (TimeDistributed over subsequences): the axes the input shape fixes."""
        spec = self._input_shape
        for axis, what in ((0, "subsequences"), (1, "steps")):
            if a.shape[axis + 1] == 0 or spec[axis] is not None and a.shape[axis + 1] != spec[axis]:
                raise ValueError(f"the model expects {spec[axis] or 'at least one'} {what} per "
                                 f"sample (input shape {self.input_shape}); received `{name}` "
                                 f"with shape {a.shape}")

    def _ensure_built(self, x: np.ndarray) -> None:
        if self._input_shape is None:
            # timesteps stay variable (3D sequences, or integer indices for an Embedding)
            # unless a layer needs their number (Flatten)
            variable = (x.ndim == 3 or self.layers[0]._integer_input) and \
                not any(getattr(l, "_needs_steps", False) for l in self.layers)
            shape = (None,) + x.shape[2:] if variable else x.shape[1:]
            self._build(shape)
            if self._compiled:
                self._resolve_metrics()

    def _prepare_y(self, y, n: int, name="y") -> np.ndarray:
        out = self._sample_output_shape()
        if (type(y) is np.ndarray and y.dtype == np.float32 and y.flags.c_contiguous
                and y.ndim > 0 and y.shape[0] == n and y.shape[1:] == out
                and self.loss != "sparse_categorical_crossentropy"):
            _arrays.check_finite(y, name)  # the common case, already in the right layout
            return y
        if y is None:
            raise ValueError(f"`{name}` is required")
        return check_targets(y, n, out, self.loss, name, self.output_shape)

    def _prepare_sample_weight(self, sample_weight, class_weight, y, n: int,
                               name="sample_weight"):
        """One float32 weight per sample from Keras' ``sample_weight`` (shape (n,)) and
        ``class_weight`` ({class: weight}; the class of a sample is its integer label, the
        argmax of a one-hot row, or the rounded value of a single output), multiplied when
        both are given; None when neither is."""
        w = None
        if sample_weight is not None:
            w = _arrays.as_float32(sample_weight, name)
            if w.ndim == 2 and w.shape[1] == 1:
                w = w.reshape(-1)
            if w.ndim != 1 or w.shape[0] != n:
                raise ValueError(f"`{name}` must hold one weight per sample, shape ({n},); "
                                 f"received shape {w.shape}")
            _arrays.check_finite(w, name)
            if (w < 0).any():
                raise ValueError(f"`{name}` must be non-negative; received "
                                 f"{float(w.min())} at index {int(w.argmin())}")
        if class_weight is not None:
            if not isinstance(class_weight, dict) or not class_weight:
                raise ValueError(f"`class_weight` must be a dict {{class index: weight}}; "
                                 f"received {class_weight!r:.100}")
            cw = {}
            for k, v in class_weight.items():
                try:
                    key, val = int(k), float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"`class_weight` maps integer classes to numbers; received "
                                     f"{k!r:.50}: {v!r:.50}") from None
                if key != k or key < 0 or not np.isfinite(val) or val < 0:
                    raise ValueError(f"`class_weight` maps class indices >= 0 to finite, "
                                     f"non-negative weights; received {k!r:.50}: {v!r:.50}")
                cw[key] = val
            labels = y.reshape(n, -1)
            if self.loss == "sparse_categorical_crossentropy":
                if labels.shape[1] != 1:
                    raise ValueError("`class_weight` needs one label per sample; for sequence "
                                     "targets pass `sample_weight` instead (Keras)")
                labels = labels[:, 0]
            elif self._sample_output_shape() and len(self._sample_output_shape()) > 1:
                raise ValueError("`class_weight` is not supported for sequence (3D) targets; "
                                 "pass `sample_weight` instead (Keras)")
            elif labels.shape[1] > 1:
                labels = labels.argmax(axis=1)
            else:
                labels = np.round(labels[:, 0])
            table = np.array([cw.get(c, 1.0) for c in range(int(labels.max()) + 1)], np.float32)
            cw_w = table[labels.astype(np.int64)]
            w = cw_w if w is None else (w * cw_w).astype(np.float32)
        return None if w is None else np.ascontiguousarray(w, dtype=np.float32)

    def _prepare_xy(self, x, y):
        """Validated (x, y); builds the model from x first when it has no input shape yet
        (and unbuilds it again when y is refused)."""
        x = self._prepare_x(x)
        if self._input_shape is not None:  # built: the per-call path, no context manager
            return x, self._prepare_y(y, x.shape[0])
        with self._building_from(x):
            return x, self._prepare_y(y, x.shape[0])

    def _check_exact_batch(self, n: int, verb: str) -> None:
        if self._stateful() and self._fixed_batch and n != self._fixed_batch:
            raise ValueError(f"a stateful model {verb} batches of exactly {self._fixed_batch} "
                             f"samples; received {n}")

    @staticmethod
    def _returned(logs: dict, return_dict: bool):
        """Keras' return value: the logs dict, the loss alone, or [loss, *metrics]."""
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _batch_size_for(self, batch_size, n: int, what: str, default=32) -> int:
        bs = _arrays.check_batch_arg(batch_size, "batch_size")
        if self._stateful() and self._fixed_batch:
            fb = self._fixed_batch
            if bs is not None and bs != fb:
                kind = next((type(l).__name__ for l in self.layers if getattr(l, "stateful", False)),
                            "LSTM")
                raise ValueError(f"this model has a stateful {kind} with batch size {fb} (from "
                                 f"batch_input_shape); `{what}` must use batch_size={fb} (or omit "
                                 f"it); received batch_size={bs}")
            if n % fb != 0:
                raise ValueError(f"a stateful model processes whole batches of {fb} samples: "
                                 f"`{what}` received {n} samples, which is not a multiple of {fb}. "
                                 f"Trim or pad the data to a multiple of {fb}.")
            return fb
        # a batch larger than the data is the whole data (and a huge one stays in range)
        return min(bs if bs is not None else default, max(n, 1))
