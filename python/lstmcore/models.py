"""The Sequential model: its definition (layers, building, shapes, summary), its native
executors, its weights, configs and saving. Training (compile, fit, evaluate, predict) is
``_training.Trainer`` and data preparation ``_data.DataPrep``, mixed in (Keras keeps the
definition, the trainer and the data adapters apart the same way); the threads contract is
``_concurrency``."""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

from . import _concurrency, _core, saving
from ._data import DataPrep
from ._training import Trainer
from .layers import Layer, deserialize, serialize
from .layers.graph import KerasTensor

_NOTHING = contextlib.nullcontext()


class Model(Trainer, DataPrep):
    """A model, as Keras has it: ``Model(inputs, outputs)`` builds a functional model (a
    ``functional.Functional``, as Keras 3 returns), and ``Sequential`` is the model of a
    stack of layers; both are ``Model`` instances.

    This class holds what every model has: its layers, its native executors (a Sequential
    stack is the chain of the executor's graph), weights, configs, saving, pickling, and the
    training of ``Trainer``. The definition here is the stack's; ``Functional`` overrides
    what a graph does differently.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model:  # Keras: Model(inputs, outputs) is a functional model
            from .functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, layers=None, name=None):
        self.name = name or "sequential"
        self.layers: list[Layer] = []
        self._input_shape = None   # per-sample input shape, e.g. (timesteps or None, features)
        self._fixed_batch = None   # from batch_input_shape
        self._net = None          # the training executor (and stateful inference)
        self._guard = _concurrency.ModelGuard()
        self._compiled = False
        self.optimizer = None
        self.loss = None
        self._metric_names: list[str] = []
        self._metric_codes: list[list[int]] = []
        self._metric_slots: list[tuple[str, int]] = []
        self._output_loss_names: list[tuple[int, str]] = []
        self._metrics_arg = None
        self.stop_training = False
        self.history = None
        self._warned_shuffle = False
        self._batch_index = None   # np.arange(batch) reused by train_on_batch
        self._training_started = False
        self._stateful_cache = None
        self._out_shape_cache = None  # per-sample output shape (the per-call path reads it)
        for layer in layers or []:
            self.add(layer)

    def __call__(self, inputs, training=None, mask=None):
        """On symbolic tensors: the model as a layer of a functional model (its layers are
        called again, sharing their weights; see ``graph.call_model``). On data: the
        predictions for it, as ``predict_on_batch``."""
        if training or mask is not None:
            raise NotImplementedError("`model(x, training=True)` and `mask=` are not supported")
        from .layers.graph import KerasTensor, call_model
        items = inputs.values() if isinstance(inputs, dict) else \
            inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if any(isinstance(t, KerasTensor) for t in items):
            return call_model(self, inputs)
        return self.predict_on_batch(inputs)

    # ---- definition -----------------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a layer. The first layer may carry ``input_shape``/``batch_input_shape``
        (or ``input_dim``, with ``batch_size``); on a later layer they are ignored with a
        UserWarning, as Keras ignores them."""
        with self._guard.mutex:
            self._add(layer)

    def _add(self, layer) -> None:
        if isinstance(layer, KerasTensor):
            if not layer._node.is_input:
                raise ValueError(f"a Sequential model takes layers; received the tensor "
                                 f"{layer.name} of layer `{layer._node.layer.name}` (a "
                                 f"functional model's tensors go to `Model(inputs, outputs)`)")
            layer = layer._node.layer  # Input(...): the InputLayer behind the tensor
        if getattr(layer, "_is_input", False):  # Input(...) / InputLayer: the input shape only
            if self.layers or self._input_shape is not None:
                raise ValueError(f"an `Input` must be the first entry of a Sequential model; "
                                 f"`{layer.name}` comes after "
                                 f"{'`' + self.layers[-1].name + '`' if self.layers else 'another Input'}")
            bis = layer._batch_input_shape
            self._fixed_batch = bis[0]
            self._input_shape = tuple(bis[1:])
            self._drop_executors()
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"`Sequential.add` expects an lstmcore layer (lstmcore.layers.*); "
                             f"received {layer!r}")
        if any(layer is l for l in self.layers):
            raise ValueError(f"layer `{layer.name}` is already in this model")
        if layer.built and getattr(layer, "_model", None) is not None and layer._model is not self:
            raise ValueError(f"layer `{layer.name}` already belongs to another model")
        if getattr(layer, "return_state", False):
            raise ValueError(f"`{type(layer).__name__}(return_state=True)` returns a list and "
                             f"cannot be used inside Sequential; call the layer on its own to get "
                             f"its state")
        if self.layers and layer._integer_input:
            raise ValueError(f"`{type(layer).__name__}` takes integer indices and must be the "
                             f"first layer; layer `{layer.name}` would follow "
                             f"`{self.layers[-1].name}`")
        if self._output_masked() and not layer._supports_masking:
            source = next(l for l in self.layers if l._output_mask(False))
            raise ValueError(f"layer `{layer.name}` ({type(layer).__name__}) cannot take the "
                             f"mask that `{source.name}` ({type(source).__name__}) starts "
                             f"(Keras masking: Embedding(mask_zero=True) or Masking). End the "
                             f"mask first, e.g. with return_sequences=False on the recurrent "
                             f"layer before it, or drop mask_zero/Masking.")
        ignored = None
        if (self.layers or self._input_shape is not None) and layer._batch_input_shape is not None:
            # Keras 2 ignores the shape arguments of later layers (scripts give input_dim to
            # every Dense, batch_input_shape to every stateful LSTM); Keras 3 warns about them.
            # Ignored here, with a warning, and dropped so that the layer's config does not
            # carry it (restored if the add fails).
            ignored = layer._batch_input_shape
            warnings.warn(f"layer `{layer.name}` is not the first layer of the model: its input "
                          f"shape {ignored} (input_shape/batch_input_shape/input_dim/batch_size) "
                          f"is ignored, as Keras does; the model's input shape comes from the "
                          f"first layer", UserWarning, stacklevel=3)
            layer._batch_input_shape = None
        if not self.layers and layer._batch_input_shape is not None:
            bis = layer._batch_input_shape
            self._fixed_batch = bis[0]
            self._input_shape = tuple(bis[1:])
        self.layers.append(layer)
        layer._model = self
        self._drop_executors()
        if self._input_shape is not None:
            try:
                self._build(self._input_shape)
            except Exception:
                self.layers.pop()
                layer._model = None
                if ignored is not None:
                    layer._batch_input_shape = ignored
                raise
        if self._compiled:
            self._resolve_metrics()  # 'accuracy' depends on the final output width

    def _output_masked(self) -> bool:
        """Whether the output of the layers so far carries a Keras mask."""
        masked = False
        for layer in self.layers:
            masked = layer._output_mask(masked)
        return masked

    def _build(self, input_shape) -> None:
        shape = tuple(input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._input_shape = tuple(input_shape)
        self._drop_executors()

    def _unbuild(self, layers_built) -> None:
        """Undo a build made by a call that then failed: the model is as before the call."""
        for layer, was_built in zip(self.layers, layers_built):
            if not was_built:
                layer.built = False
                layer._weights = []
                layer.input_shape = layer.output_shape = None
        self._input_shape = None
        self._drop_executors()

    def _building_from(self, x):
        """Build from the data when the model has no input shape yet; if the call then fails
        (bad targets, bad validation data...), the model goes back to unbuilt."""
        if self._input_shape is not None:
            return _NOTHING  # the common case: no generator-based context manager (~1 us)
        return self._build_transaction(x)

    @contextlib.contextmanager
    def _build_transaction(self, x):
        with self._guard.mutex:
            before = [layer.built for layer in self.layers]
            self._ensure_built(x)
            try:
                yield
            except BaseException:
                self._unbuild(before)
                raise

    @property
    def built(self) -> bool:
        return self._input_shape is not None and all(l.built for l in self.layers)

    def _has_dropout(self) -> bool:
        return any(layer._uses_dropout() for layer in self.layers)

    def _stateful(self) -> bool:
        if self._stateful_cache is None:
            self._stateful_cache = any(getattr(l, "stateful", False) for l in self.layers)
        return self._stateful_cache

    @property
    def input_shape(self):
        if self._input_shape is None:
            return None
        return (self._fixed_batch,) + tuple(self._input_shape)

    @property
    def output_shape(self):
        if self._input_shape is None:
            return None
        shape = self._input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return (self._fixed_batch,) + tuple(shape)

    def _sample_output_shape(self):
        if self._out_shape_cache is None:
            self._out_shape_cache = tuple(self.output_shape[1:])
        return self._out_shape_cache

    def count_params(self) -> int:
        if not self.built:
            raise ValueError("this model has not been built yet: give the first layer "
                             "`input_shape=` or call fit/predict on data first")
        return sum(l.count_params() for l in self.layers)

    def summary(self, print_fn=None) -> None:
        """Print layer names, output shapes and parameter counts, as Keras does."""
        if not self.built:
            raise ValueError("this model has not been built yet: give the first layer "
                             "`input_shape=` or call fit/predict on data first")
        out = print_fn or print
        w = (29, 26, 10)
        line = "_" * sum(w)
        out(f'Model: "{self.name}"')
        out(line)
        out(f"{' Layer (type)':<{w[0]}}{'Output Shape':<{w[1]}}{'Param #':<{w[2]}}")
        out("=" * sum(w))
        shape = self._input_shape
        for i, layer in enumerate(self.layers):
            shape = layer.compute_output_shape(shape)
            name = f" {layer.name} ({type(layer).__name__})"
            oshape = str((self._fixed_batch,) + tuple(shape))
            out(f"{name:<{w[0]}}{oshape:<{w[1]}}{layer.count_params():<{w[2]}}")
            if i < len(self.layers) - 1:
                out("")
        out("=" * sum(w))
        total = self.count_params()
        trainable = sum(l.count_params() for l in self.layers if l.trainable)
        out(f"Total params: {total:,}")
        out(f"Trainable params: {trainable:,}")
        out(f"Non-trainable params: {total - trainable:,}")
        out(line)

    # ---- the native executors ---------------------------------------------------------------
    def _new_executor(self, training: bool):
        """A native Network over this model's weights (shared, not copied), with its own
        activations and workspaces; sharing the model's WeightLock."""
        net = _core.Network(self._guard.weights)
        shape = self._input_shape
        for i, layer in enumerate(self.layers):
            net.add(*layer._native_spec(shape))
            for j, reg in enumerate(layer._weight_regularizers()):
                if reg is not None and (reg.l1 or reg.l2):
                    net.set_regularizer(i, j, reg.l1, reg.l2)
            if not layer.trainable:
                net.set_trainable(i, False)
            shape = layer.compute_output_shape(shape)
        if self._compiled:
            if training:
                self._configure_native(net)
            else:  # inference: loss and metrics for evaluate, no optimizer slots
                net.set_loss(self.loss)
                net.set_metrics(self._metric_codes)
        return net

    def _native(self):
        """The training executor (the only one a stateful model uses: it holds the state)."""
        if self._net is None:
            self._net = self._new_executor(training=True)
        return self._net

    def _drop_executors(self) -> None:
        self._net = None
        self._stateful_cache = None
        self._out_shape_cache = None
        self._guard.invalidate()

    def _run_inference(self, fn):
        """fn(executor) for one predict/evaluate call: the training executor under the
        mutation lock for a stateful model (its state is the model's), else an executor of
        the pool's, so that concurrent calls run in parallel, each on its own. Written out
        rather than as context managers: this is the per-call path of predict_on_batch."""
        if self._stateful():
            with self._guard.mutex:
                return fn(self._native())
        guard = self._guard
        gen = guard.pool_gen
        try:
            net = guard.pool.pop()
        except IndexError:
            net = self._new_executor(training=False)
        try:
            return fn(net)
        finally:
            if gen == guard.pool_gen:
                guard.pool.append(net)

    def _weights_written(self) -> None:
        """Weights or optimizer slots were written from Python (under the exclusive lock)."""
        if self._net is not None:
            self._net.weights_changed()

    def _configure_native(self, net) -> None:
        net.set_loss(self.loss)
        net.set_metrics(self._metric_codes)
        args = self.optimizer._native_args()
        net.set_optimizer(self.optimizer._kind, **args)
        net.iterations = self.optimizer.iterations

    def _learning_rate_changed(self, optimizer, lr: float) -> None:
        """optimizer.learning_rate was set: the training executor takes the new rate for the
        next step, keeping slots and iterations (set_optimizer would reset them). Under the
        mutation lock: never in the middle of a native training call."""
        with self._guard.mutex:
            if self._net is not None:
                self._net.set_learning_rate(lr)
            optimizer._learning_rate = lr

    def _sync_iterations(self) -> None:
        if self._net is not None and self.optimizer is not None:
            self.optimizer.iterations = int(self._net.iterations)

    # ---- state and weights ----------------------------------------------------------------------
    def reset_states(self) -> None:
        """Zero the state of every stateful layer."""
        with self._guard.mutex:
            if self._net is not None:
                self._net.reset_states()

    def _trainable_changed(self, layer) -> None:
        """layer.trainable was set: the training executor updates only trainable layers
        (Keras asks for a new compile(); here the change applies at once, and the optimizer
        state restarts as after compile)."""
        with self._guard.mutex:
            if self._net is not None:
                self._net.set_trainable(self.layers.index(layer), layer.trainable)
            self._guard.invalidate()  # inference executors are made anew (regularization)

    def _reset_layer_states(self, layer) -> None:
        with self._guard.mutex:
            if self._net is not None:
                self._net.reset_layer_states(self.layers.index(layer))

    def get_weights(self) -> list[np.ndarray]:
        """All weights, layer by layer, in Keras order and shapes (copies, never half-updated)."""
        out = []
        with self._guard.shared():
            for layer in self.layers:
                out.extend(layer.get_weights())
        return out

    def set_weights(self, weights) -> None:
        """Set all weights from a list like ``get_weights()``; everything is checked before
        anything is written."""
        with self._guard.mutex:
            self._set_weights(list(weights))

    def _set_weights(self, weights) -> None:
        expected = sum(len(l.weights) for l in self.layers)
        if len(weights) != expected:
            raise ValueError(f"the model expects {expected} weight arrays "
                             f"{[tuple(w.shape) for l in self.layers for w in l.weights]}; "
                             f"received {len(weights)}")
        i = 0
        checked = []
        for layer in self.layers:
            k = len(layer.weights)
            part = []
            for j, (cur, new) in enumerate(zip(layer.weights, weights[i:i + k])):
                a = np.asarray(new, dtype=np.float32)
                if a.shape != cur.shape:
                    raise ValueError(f"weight {i + j} (layer `{layer.name}`, "
                                     f"{layer._weight_names[j] if j < len(layer._weight_names) else j}) "
                                     f"must have shape {tuple(cur.shape)}; received shape {a.shape}")
                if not np.isfinite(a).all():
                    raise ValueError(f"weight {i + j} (layer `{layer.name}`) contains NaN or Inf")
                part.append(a)
            checked.append((layer, part))
            i += k
        self._write_weights(checked)

    def _write_weights(self, layer_arrays) -> None:
        """Copy checked arrays into layers' weights, in place (the native executors point at
        them), serialised with fit/compile and never seen half-written by a predict."""
        with self._guard.mutex, self._guard.exclusive():
            for layer, part in layer_arrays:  # float32 arrays of the right shapes, checked
                for cur, new in zip(layer.weights, part):
                    np.copyto(cur, new)
            self._weights_written()

    # ---- configs, saving and pickling ------------------------------------------------------------
    def get_config(self) -> dict:
        layers = []
        for i, layer in enumerate(self.layers):
            cfg = serialize(layer)
            if i == 0 and self._input_shape is not None and "batch_input_shape" not in cfg["config"]:
                cfg["config"]["batch_input_shape"] = [self._fixed_batch] + list(self._input_shape)
            layers.append(cfg)
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config: dict):
        if isinstance(config, dict) and "input_layers" in config:  # a functional model's
            from .functional import rebuild
            return rebuild(config)
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("a Sequential config must be a dict with a 'layers' list")
        return (Sequential if cls is Model else cls)(
            [deserialize(c) for c in config["layers"]], name=config.get("name"))

    def save(self, filepath) -> None:
        """Save architecture, weights, compile settings and optimizer state to one file: a
        zip of JSON and ``.npy`` arrays that ``lstmcore.models.load_model`` reads, whatever
        the file's name (a ``.h5``/``.hdf5``/``.keras`` name gets a warning: it is not
        Keras' format)."""
        _warn_foreign_suffix(filepath, "save")
        with self._guard.mutex:
            saving.save_model(self, filepath)

    def save_weights(self, filepath) -> None:
        """Save the weights alone (lstmcore's file format; see ``save``)."""
        _warn_foreign_suffix(filepath, "save_weights")
        with self._guard.mutex:
            saving.save_weights(self, filepath)

    def streaming(self, batch_size=1):
        """A ``Stream`` over this model's weights: ``stream.step(x_t)`` runs one timestep
        ``(batch_size, features)`` and returns the output for it, each recurrent layer's state
        kept natively between calls (``reset``, ``get_state``, ``set_state``)."""
        from .streaming import Stream
        return Stream(self, batch_size)

    def load_weights(self, filepath) -> None:
        saving.load_weights(self, filepath)

    def to_onnx(self, filepath, opset=17) -> None:
        """Export to ONNX (``pip install lstmcore[onnx]``): see ``lstmcore.interop.onnx``."""
        from .interop.onnx import to_onnx
        to_onnx(self, filepath, opset=opset)

    def __reduce__(self):
        with self._guard.mutex:
            return (model_from_bytes, (saving.model_to_bytes(self),))

    def __deepcopy__(self, memo):
        with self._guard.mutex:
            data = saving.model_to_bytes(self)
        return model_from_bytes(data)


class Sequential(Model):
    """A linear stack of layers, with Keras' lifecycle.

    >>> from lstmcore.models import Sequential
    >>> from lstmcore.layers import LSTM, Dense
    >>> model = Sequential([LSTM(2, input_shape=(5, 1)), Dense(1)])
    >>> model.compile(optimizer='adam', loss='mse')
    >>> model.predict(np.zeros((3, 5, 1))).shape
    (3, 1)
    """


_KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def _warn_foreign_suffix(filepath, method: str) -> None:
    """Keras 2 scripts save to 'model.h5': lstmcore writes its own format under any name, so
    say so rather than leave an HDF5-named file that h5py and Keras cannot open. (Writing
    Keras' own formats is the interop module's job.)"""
    try:
        name = os.fspath(filepath)
    except TypeError:
        return  # saving reports the bad path itself
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _KERAS_SUFFIXES:
        warnings.warn(f"`{method}({name!r})`: lstmcore writes its own format whatever the file "
                      f"name, a zip of JSON and .npy arrays that lstmcore.models.load_model "
                      f"reads, not {'HDF5' if suffix != '.keras' else 'a Keras archive'}: Keras "
                      f"and h5py cannot open it. Name the file e.g. 'model.lstmcore' to "
                      f"silence this warning.", UserWarning, stacklevel=3)


def load_model(filepath, compile=True):
    """Load a model saved with ``model.save`` (Sequential or functional): no code is executed
    (no pickle)."""
    return saving.load(filepath, Sequential, compile, f"file {os.fspath(filepath)!r}")


def model_from_bytes(data, compile=True):
    """A model from the bytes of a model file (pickling and deepcopy go through this)."""
    return saving.load(data, Sequential, compile, "the model data")


from .functional import Functional  # noqa: E402, F401  (the functional Model)
