"""Optimizers with Keras names, defaults and numerics (the update runs natively).

``SGD(lr=0.01)`` (Keras 2) and ``SGD(learning_rate=0.01)`` (Keras 3) are exact aliases.
"""

from __future__ import annotations

import math

# The native update computes in float32: a hyper-parameter that is finite in float64 but not in
# float32 (Adam(lr=1e39)) would turn every weight into inf or NaN at the first step.
FLOAT32_MAX = 3.4028234663852886e38
MAX_ITERATIONS = 2**62  # the native step counter is an int64; Adam raises betas to its power
_MAX_ECHO = 100


def _show(value) -> str:
    """repr(value) cut to 100 characters (values may come from a model file)."""
    text = repr(value)
    return text if len(text) <= _MAX_ECHO else f"{text[:_MAX_ECHO]}... ({len(text)} characters)"


def _number(value, arg, cls, lo=None, lo_open=False, hi=None, hi_open=False):
    if isinstance(value, bool):
        value = None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"`{cls}` expects `{arg}` to be a number; received {arg}={_show(value)}") from None
    if math.isfinite(v) and abs(v) > FLOAT32_MAX:
        raise ValueError(f"`{cls}` expects `{arg}` to be finite in float32 (|{arg}| <= "
                         f"{FLOAT32_MAX!r}); received {arg}={_show(value)}")
    ok = math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        lo_s = "" if lo is None else ("(" if lo_open else "[") + f"{lo}"
        hi_s = "" if hi is None else f"{hi}" + (")" if hi_open else "]")
        if lo is not None and hi is not None:
            rng = f"{lo_s}, {hi_s}"
        elif lo is not None:
            rng = f"{'>' if lo_open else '>='} {lo}"
        else:
            rng = f"{'<' if hi_open else '<='} {hi}"
        where = f"in {rng}" if lo is not None and hi is not None else rng
        raise ValueError(f"`{cls}` expects `{arg}` {where}; received {arg}={_show(value)}")
    return v


class Optimizer:
    """Base class: learning rate (``learning_rate`` or its Keras 2 alias ``lr``) and decay."""

    _kind = ""

    def __init__(self, learning_rate, lr=None, decay=0.0, name=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            bad = ", ".join(sorted(map(str, kwargs)))
            if len(bad) > 2 * _MAX_ECHO:
                bad = f"{bad[:2 * _MAX_ECHO]}... ({len(kwargs)} arguments)"
            raise TypeError(f"`{cls}` got unexpected keyword argument(s): {bad}")
        if lr is not None:
            learning_rate = lr
        self.learning_rate = learning_rate
        self.decay = _number(decay, "decay", cls, lo=0.0)
        if name is not None and not isinstance(name, str):
            raise ValueError(f"`{cls}` expects `name` to be a string; received name={_show(name)}")
        self.name = name or cls
        self.iterations = 0
        self._model = None  # weakref to the model compiled with this optimizer (its state)

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._set_learning_rate(value, "learning_rate")

    @property
    def lr(self) -> float:
        """Keras 2's name of ``learning_rate`` (reads and writes the same value)."""
        return self._learning_rate

    @lr.setter
    def lr(self, value) -> None:
        self._set_learning_rate(value, "lr")

    def _set_learning_rate(self, value, arg: str) -> None:
        """Checked, then passed on to the compiled model's native optimizer at once (also in
        the middle of fit, e.g. from a callback), which keeps its slots and step count."""
        lr = _number(value, arg, type(self).__name__, lo=0.0, lo_open=True)
        ref = getattr(self, "_model", None)
        model = ref() if ref is not None else None
        if model is not None and model.optimizer is self:
            model._learning_rate_changed(self, lr)
        else:
            self._learning_rate = lr

    # -- state, as Keras 2 names it: [iterations, *slots] -------------------------------------
    def get_weights(self) -> list:
        """The optimizer's state as Keras 2 returns it: ``[iterations, *slots]`` (int64 scalar,
        then per trainable weight `_slots_per_weight()` flat float32 arrays); ``[]`` before
        the optimizer was compiled into a model."""
        model = self._model() if self._model is not None else None
        if model is None:
            return []
        return model._optimizer_state()

    def set_weights(self, weights) -> None:
        """Restore a state from ``get_weights()`` (checked before anything changes)."""
        model = self._model() if self._model is not None else None
        if model is None:
            raise ValueError(f"`{type(self).__name__}` has no state to set yet: compile a model "
                             f"with it first")
        model._set_optimizer_state(list(weights))

    def _bind(self, model) -> None:
        import weakref
        self._model = weakref.ref(model)

    def _slots_per_weight(self) -> int:
        """How many optimizer slots the native update keeps per weight array (as
        ``Network::slots_per_param``): each is a flat float32 array of the weight's size."""
        return 0

    def _nonnegative_slots(self) -> tuple[int, ...]:
        """Which of a weight's slots hold running squares (must be >= 0 when loaded)."""
        return ()

    def _native_args(self) -> dict:
        return {"lr": self.learning_rate, "decay": self.decay}

    def get_config(self) -> dict:
        return {"name": self.name, "learning_rate": self.learning_rate, "decay": self.decay}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Args:
        learning_rate (or lr): Default: 0.01.
        momentum: ``v = momentum*v - lr*g; w += v``. Default: 0.
        nesterov: ``w += momentum*v - lr*g``. Default: False.
        decay: Keras 2 time decay ``lr / (1 + decay*iterations)``. Default: 0.
    """

    _kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, lr=None, decay=0.0,
                 name=None, **kwargs):
        super().__init__(learning_rate, lr=lr, decay=decay, name=name, **kwargs)
        self.momentum = _number(momentum, "momentum", "SGD", lo=0.0)
        self.nesterov = bool(nesterov)

    def _native_args(self) -> dict:
        return dict(super()._native_args(), momentum=self.momentum, nesterov=self.nesterov)

    def _slots_per_weight(self) -> int:
        return 1 if self.momentum != 0.0 else 0  # the velocity

    def get_config(self) -> dict:
        return dict(super().get_config(), momentum=self.momentum, nesterov=self.nesterov)


class Adam(Optimizer):
    """Adam (Kingma & Ba) in Keras' form: ``lr_t = lr*sqrt(1-b2^t)/(1-b1^t)``,
    ``w -= lr_t*m/(sqrt(v)+epsilon)``.

    Args:
        learning_rate (or lr): Default: 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.
    """

    _kind = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 lr=None, decay=0.0, name=None, **kwargs):
        super().__init__(learning_rate, lr=lr, decay=decay, name=name, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", "Adam", lo=0.0, hi=1.0, hi_open=True)
        self.beta_2 = _number(beta_2, "beta_2", "Adam", lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _number(1e-7 if epsilon is None else epsilon, "epsilon", "Adam", lo=0.0)
        if amsgrad:
            raise NotImplementedError("`Adam(amsgrad=True)` is not supported")

    def _native_args(self) -> dict:
        return dict(super()._native_args(), beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon)

    def _slots_per_weight(self) -> int:
        return 2  # m, v

    def _nonnegative_slots(self) -> tuple[int, ...]:
        return (1,)

    def get_config(self) -> dict:
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon)


class RMSprop(Optimizer):
    """RMSprop in Keras 3's form: ``v = rho*v + (1-rho)*g^2``, ``w -= lr*g/sqrt(v+epsilon)``.

    Args:
        learning_rate (or lr): Default: 0.001. rho: 0.9. epsilon: 1e-7.
    """

    _kind = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 lr=None, decay=0.0, name=None, **kwargs):
        super().__init__(learning_rate, lr=lr, decay=decay, name=name, **kwargs)
        self.rho = _number(rho, "rho", "RMSprop", lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _number(1e-7 if epsilon is None else epsilon, "epsilon", "RMSprop", lo=0.0)
        if momentum or centered:
            raise NotImplementedError("`RMSprop(momentum=..., centered=True)` is not supported")

    def _native_args(self) -> dict:
        return dict(super()._native_args(), rho=self.rho, epsilon=self.epsilon)

    def _slots_per_weight(self) -> int:
        return 1  # v

    def _nonnegative_slots(self) -> tuple[int, ...]:
        return (0,)

    def get_config(self) -> dict:
        return dict(super().get_config(), rho=self.rho, epsilon=self.epsilon)


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    """An optimizer from a name ('sgd', 'adam', 'rmsprop') or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected 'sgd', 'adam', 'rmsprop' or an "
                     f"instance of lstmcore.optimizers.SGD/Adam/RMSprop")


def serialize(opt: Optimizer) -> dict:
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


def deserialize(config: dict) -> Optimizer:
    """An optimizer from ``{"class_name": ..., "config": {...}}`` (as ``serialize`` writes);
    the config may come from a model file, so anything malformed is a ValueError."""
    classes = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop}
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown optimizer config {_show(config)}; expected a dict with "
                         f"'class_name' 'SGD', 'Adam' or 'RMSprop' and a 'config' dict")
    inner = config.get("config")
    if not isinstance(inner, dict):
        raise ValueError(f"the config of a `{name}` optimizer must be a dict; received "
                         f"{_show(inner)}")
    try:
        return cls.from_config(dict(inner))
    except TypeError as e:  # an unknown keyword
        raise ValueError(str(e)) from None


def check_iterations(value) -> int:
    """The optimizer step count, as read from a file: an int in [0, 2**62)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_ITERATIONS:
        raise ValueError(f"the optimizer's `iterations` must be an integer in [0, 2**62); "
                         f"received iterations={_show(value)}")
    return value
