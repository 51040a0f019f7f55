"""The merge layers of functional models: ``Concatenate``, ``Add``, ``Multiply``, ``Average``
(and Keras 2's functions ``concatenate``, ``add``, ``multiply``, ``average``). Each is called
on a list of tensors: ``Concatenate()([a, b])``."""

from __future__ import annotations

from .base import Layer, _show


class _Merge(Layer):
    """What the merge layers share: a list of at least two inputs of the same shape (for
    Concatenate: the same shape except along its axis)."""

    _kind = "merge"
    _mode = "sum"            # the native merge mode (_core.MERGE_CODES)
    _multi_input = True      # called on a list of tensors
    _supports_masking = True  # Keras: the output's mask joins the inputs' masks
    _timestep_wise = False

    def _check_shapes(self, shapes, names=None) -> None:
        """ValueError naming this layer and the inputs' layers when the shapes cannot merge."""
        names = names or [f"input {i}" for i in range(len(shapes))]
        if len(shapes) < 2:
            raise ValueError(f"`{type(self).__name__}` layer `{self.name}` merges at least 2 "
                             f"tensors; received {len(shapes)}")
        first = tuple(shapes[0])
        for shape in shapes[1:]:
            if not self._compatible(first, tuple(shape)):
                raise ValueError(f"`{type(self).__name__}` layer `{self.name}` cannot merge "
                                 f"inputs of shapes {self._show_shapes(shapes, names)}: "
                                 f"{self._rule()}")

    @staticmethod
    def _show_shapes(shapes, names) -> str:
        return ", ".join(f"{(None,) + tuple(s)} from `{n}`" for s, n in zip(shapes, names))

    def _compatible(self, a, b) -> bool:
        return len(a) == len(b) and all(x == y or x is None or y is None for x, y in zip(a, b))

    def _rule(self) -> str:
        return "every input must have the same shape"

    def _merged_mask(self, masked) -> bool:
        """Keras 3: whether the output carries a mask, given which inputs do (Add, Multiply,
        Average: only when all do; Concatenate: when any does)."""
        return all(masked)

    def build(self, input_shape) -> None:
        shapes = list(input_shape)
        self._check_shapes(shapes)
        self.input_shape = [(None,) + tuple(s) for s in shapes]
        self.output_shape = (None,) + tuple(self.compute_output_shape(shapes))
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        self._check_shapes(shapes)
        return tuple(next((x for x in dims if x is not None), None) for dims in zip(*shapes))

    def _native_config(self, input_shape) -> dict:
        return {"mode": self._mode, "n": len(input_shape)}


class Add(_Merge):
    """Element-wise sum of its inputs: ``Add()([a, b])``."""

    _mode = "sum"


class Multiply(_Merge):
    """Element-wise product of its inputs: ``Multiply()([a, b])``."""

    _mode = "mul"


class Average(_Merge):
    """Element-wise mean of its inputs: ``Average()([a, b])``."""

    _mode = "ave"


class Concatenate(_Merge):
    """Joins its inputs along ``axis``: the features (``axis=-1``, the default) or, for
    sequences ``(batch, timesteps, features)``, the timesteps (``axis=1``)."""

    _mode = "concat"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"`Concatenate` expects an integer `axis`; received "
                             f"axis={_show(axis)}")
        self.axis = axis

    def _axis(self, rank: int) -> int:
        """The per-sample axis (0-based, without the batch) this layer joins, for inputs of
        `rank` per-sample axes; ValueError for an axis lstmcore cannot join."""
        axis = self.axis + rank + 1 if self.axis < 0 else self.axis
        if not 1 <= axis <= rank:
            raise ValueError(f"`Concatenate(axis={self.axis})` layer `{self.name}`: inputs have "
                             f"{rank + 1} axes (with the batch); axis must be in "
                             f"[{-rank}, {rank}] and not the batch axis 0")
        if axis != rank and not (rank == 2 and axis == 1):
            raise ValueError(f"`Concatenate(axis={self.axis})` layer `{self.name}`: lstmcore "
                             f"joins along the features (axis=-1) or, for sequences, along "
                             f"time (axis=1)")
        return axis - 1

    def _compatible(self, a, b) -> bool:
        if len(a) != len(b):
            return False
        ax = self._axis(len(a))
        return all(x == y or x is None or y is None for i, (x, y) in enumerate(zip(a, b))
                   if i != ax)

    def _rule(self) -> str:
        return f"all axes but the joined one (axis={self.axis}) must match"

    def _merged_mask(self, masked) -> bool:
        return any(masked)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        self._check_shapes(shapes)
        ax = self._axis(len(shapes[0]))
        out = list(shapes[0])
        sizes = [s[ax] for s in shapes]
        out[ax] = None if any(v is None for v in sizes) else sum(sizes)
        for i in range(len(out)):
            if i != ax and out[i] is None:
                out[i] = next((s[i] for s in shapes if s[i] is not None), None)
        return tuple(out)

    def _native_config(self, input_shape) -> dict:
        ax = self._axis(len(input_shape[0]))
        return {"mode": "concat", "n": len(input_shape),
                "time_axis": len(input_shape[0]) == 2 and ax == 0}

    def get_config(self) -> dict:
        return dict(super().get_config(), axis=self.axis)


def add(inputs, **kwargs):
    """Keras 2's functional spelling of ``Add()(inputs)``."""
    return Add(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Keras 2's functional spelling of ``Multiply()(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Keras 2's functional spelling of ``Average()(inputs)``."""
    return Average(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Keras 2's functional spelling of ``Concatenate(axis)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
