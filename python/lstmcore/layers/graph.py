"""Symbolic tensors and layer calls: what a functional model is made of (Keras' KerasTensor,
Node and map_graph).

``Input(...)`` returns a :class:`KerasTensor`; calling a layer on tensors creates a
:class:`Node` (the layer, the tensors it read, the tensors it made) and returns new tensors.
Nothing is computed: a ``Model(inputs, outputs)`` later walks these nodes (:func:`map_graph`)
and hands them to the native executor as a DAG.
"""

from __future__ import annotations

import itertools

from .base import Layer, _show

_tensor_ids = itertools.count()


class KerasTensor:
    """A symbolic tensor: a shape (``None`` for the batch and any length that varies), the
    layer call that produced it, and whether it carries a Keras mask."""

    def __init__(self, shape, node, index, masked=False, dtype="float32", name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name or f"keras_tensor_{next(_tensor_ids)}"
        self._node = node
        self._index = index
        self._masked = masked

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def _keras_history(self):
        """(layer, node index in the layer's calls, output index), as Keras names it."""
        layer = self._node.layer
        return layer, layer._inbound_nodes.index(self._node), self._index

    def __repr__(self) -> str:
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}, "
                f"from layer `{self._node.layer.name}`>")

    def __array__(self, *args, **kwargs):
        raise TypeError("a KerasTensor is symbolic (a functional model's placeholder), not "
                        "data: build a `Model(inputs, outputs)` and call `model.predict(x)`")


class Node:
    """One call of a layer: ``inputs`` (the main inputs, then the initial states) and the
    ``outputs`` it made (the output, then the returned states)."""

    def __init__(self, layer, inputs, n_main, outputs=()):
        self.layer = layer
        self.inputs = list(inputs)
        self.n_main = n_main
        self.outputs = list(outputs)

    @property
    def main_inputs(self):
        return self.inputs[:self.n_main]

    @property
    def states(self):
        return self.inputs[self.n_main:]

    @property
    def is_input(self) -> bool:
        return getattr(self.layer, "_is_input", False)

    def input_shape(self):
        """The per-sample input shape the layer is built for (a list for a merge)."""
        shapes = [t.shape[1:] for t in self.main_inputs]
        return shapes if getattr(self.layer, "_multi_input", False) else shapes[0]


def _tensor_list(value, what: str, layer) -> list:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for t in items:
        if not isinstance(t, KerasTensor):
            raise TypeError(
                f"`{type(layer).__name__}` layer `{layer.name}` was called on {what} of type "
                f"{type(t).__name__} ({_show(t, 60)}); in a functional model a layer is called "
                f"on symbolic tensors: the result of `Input(...)` or of another layer's call. "
                f"To run a model on data, build `Model(inputs, outputs)` and call "
                f"`model.predict(x)`.")
    return items


def call_layer(layer: Layer, inputs, initial_state=None, training=None, mask=None,
               build=True, **kwargs):
    """``layer(inputs, ...)`` on symbolic tensors: checks the call, builds the layer for the
    input shape (unless ``build=False``: a model file's graph is checked before anything is
    allocated), records the call and returns the output tensor(s)."""
    cls = type(layer).__name__
    if kwargs:
        raise TypeError(f"`{cls}` layer call got unexpected keyword argument(s): "
                        f"{', '.join(sorted(map(str, kwargs)))}")
    if training not in (None, False, True):
        raise ValueError(f"`training` must be None, True or False; received {_show(training)}")
    if training:
        raise NotImplementedError("`layer(x, training=True)` is not supported: dropout is "
                                  "active in fit and inactive in predict")
    if mask is not None:
        raise NotImplementedError("`layer(x, mask=...)` is not supported: start masks with "
                                  "Embedding(mask_zero=True) or Masking")
    multi = getattr(layer, "_multi_input", False)
    recurrent = getattr(layer, "_n_states", 0)
    if multi:
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"`{cls}` layer `{layer.name}` merges a list of tensors, e.g. "
                            f"{cls}()([a, b]); received {type(inputs).__name__}")
        main = _tensor_list(inputs, "an input", layer)
        layer._check_shapes([t.shape[1:] for t in main], [t._node.layer.name for t in main])
    else:
        if isinstance(inputs, (list, tuple)):
            items = _tensor_list(inputs, "an input", layer)
            if recurrent and len(items) > 1 and initial_state is None:
                inputs, initial_state = items[0], items[1:]  # Keras: layer([x, h, c])
            elif len(items) == 1:
                inputs = items[0]
            else:
                raise ValueError(f"`{cls}` layer `{layer.name}` takes one tensor; received a "
                                 f"list of {len(items)}")
        main = _tensor_list(inputs, "an input", layer)
    states = []
    if initial_state is not None:
        if not recurrent:
            raise ValueError(f"`{cls}` layer `{layer.name}` takes no `initial_state` (only "
                             f"LSTM, GRU and SimpleRNN do)")
        if getattr(layer, "stateful", False):
            raise ValueError(f"a stateful `{cls}` keeps its own state between batches: it "
                             f"takes no `initial_state`")
        states = _tensor_list(initial_state, "initial_state", layer)
        if len(states) != recurrent:
            raise ValueError(f"`{cls}` layer `{layer.name}` takes an initial_state of "
                             f"{recurrent} tensor(s) ({'[h, c]' if recurrent == 2 else '[h]'}); "
                             f"received {len(states)}")
        for s in states:
            if tuple(s.shape[1:]) != (layer.units,):
                raise ValueError(f"`{cls}` layer `{layer.name}` has {layer.units} units: each "
                                 f"initial state must have shape (batch, {layer.units}); "
                                 f"received {s.shape} from layer `{s._node.layer.name}`")
    if getattr(layer, "_integer_input", False) and not main[0]._node.is_input:
        raise ValueError(f"`{cls}` layer `{layer.name}` takes integer indices: call it on an "
                         f"`Input(...)`, not on the output of layer `{main[0]._node.layer.name}`")
    masked = any(t._masked for t in main)
    if masked and not layer._supports_masking:
        source = next(t for t in main if t._masked)
        raise ValueError(f"layer `{layer.name}` ({cls}) cannot take the mask that reaches it "
                         f"from layer `{source._node.layer.name}` (Keras masking: "
                         f"Embedding(mask_zero=True) or Masking). End the mask first, e.g. with "
                         f"return_sequences=False on the recurrent layer before it.")
    node = Node(layer, main + states, len(main))
    shape = node.input_shape()
    if build:
        _build_for(layer, shape)
    out_shape = layer.compute_output_shape(shape)
    batch = _common_batch(main + states, layer)
    out_masked = layer._merged_mask([t._masked for t in main]) if multi else \
        layer._output_mask(masked)
    outputs = [KerasTensor((batch,) + tuple(out_shape), node, 0, masked=out_masked)]
    returns_state = recurrent and getattr(layer, "return_state", False)
    if returns_state:
        outputs += [KerasTensor((batch, layer.units), node, i + 1) for i in range(recurrent)]
    node.outputs = outputs
    if not hasattr(layer, "_inbound_nodes"):
        layer._inbound_nodes = []
    layer._inbound_nodes.append(node)
    return list(outputs) if returns_state else outputs[0]


def _common_batch(tensors, layer):
    sizes = {t.shape[0] for t in tensors if t.shape[0] is not None}
    if len(sizes) > 1:
        raise ValueError(f"layer `{layer.name}` was called on tensors with different fixed batch "
                         f"sizes {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _build_for(layer, shape) -> None:
    """Build the layer for `shape`, or check that a layer already built (a shared layer)
    takes it: the same weights must fit."""
    if not layer.built:
        layer.build(shape)
        return
    if layer.weights:
        want = [tuple(w.shape) for w in layer.weights]
        try:
            got = [tuple(s) for s in layer._weight_shapes(shape)]
        except ValueError as e:
            raise ValueError(f"layer `{layer.name}` is shared but cannot take input shape "
                             f"{_show_shape(shape)}: {e}") from None
        if got != want:
            raise ValueError(f"layer `{layer.name}` was built for input shape "
                             f"{layer.input_shape}; it is called again on "
                             f"{_show_shape(shape)}, which needs weights {got} instead of {want}")


def _show_shape(shape):
    if shape and isinstance(shape[0], (tuple, list)):
        return [(None,) + tuple(s) for s in shape]
    return (None,) + tuple(shape)


def call_model(model, inputs):
    """A model called on tensors (Keras' nested models): its layers are called again on
    them, in its own order, so the calls share its weights (a later fit of either model is
    seen by the other). The result has the model's output structure. A Sequential model is
    the chain of its layers; a functional model replays its graph with its inputs replaced.
    The outer model holds the inner model's layers themselves (its summary lists them, not
    the inner model as one row)."""
    name = type(model).__name__
    if not hasattr(model, "_inputs"):  # a Sequential: the chain
        t = _tensor_list(inputs, "an input", model)
        if len(t) != 1:
            raise ValueError(f"a Sequential model takes one tensor; received {len(t)}")
        out = t[0]
        if not model.layers:
            raise ValueError("this Sequential model has no layers to call")
        if model._input_shape is not None and tuple(out.shape[1:]) != tuple(model._input_shape):
            raise ValueError(f"`{model.name}` expects input shape {model.input_shape}; received "
                             f"{out.shape}")
        for layer in model.layers:
            out = layer(out)
        return out
    if isinstance(inputs, dict):
        missing = [k for k in model.input_names if k not in inputs]
        if missing:
            raise ValueError(f"`{model.name}` takes inputs {model.input_names}; missing {missing}")
        given = [inputs[k] for k in model.input_names]
    else:
        given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    given = _tensor_list(given, "an input", model)
    if len(given) != len(model._inputs):
        raise ValueError(f"`{model.name}` ({name}) takes {len(model._inputs)} input(s); "
                         f"received {len(given)}")
    made = {}
    for mine, t in zip(model._inputs, given):
        if tuple(t.shape[1:]) != tuple(mine.shape[1:]):
            raise ValueError(f"`{model.name}` input `{mine._node.layer.name}` has shape "
                             f"{mine.shape}; received {t.shape}")
        made[id(mine)] = t
    for node in model._nodes:
        main = [made[id(t)] for t in node.main_inputs]
        states = [made[id(t)] for t in node.states]
        arg = main if getattr(node.layer, "_multi_input", False) else main[0]
        result = call_layer(node.layer, arg, initial_state=states or None)
        outs = result if isinstance(result, list) else [result]
        for mine, t in zip(node.outputs, outs):
            made[id(mine)] = t
    outs = [made[id(t)] for t in model._outputs]
    if model._output_keys is not None:
        return dict(zip(model._output_keys, outs))
    return outs if model._nested_outputs else outs[0]


def map_graph(inputs, outputs):
    """(nodes in execution order, layers in Keras' order) of the graph from `inputs` to
    `outputs`, as Keras' map_graph orders them: by depth from the outputs (deepest first),
    ties by first visit. ValueError for a cycle, an output that needs a tensor the inputs do
    not give ("graph disconnected"), or an input the outputs do not use."""
    finished, in_progress, order = set(), set(), []
    layer_index: dict[int, int] = {}
    layers_by_id: dict[int, Layer] = {}
    input_ids = {id(t) for t in inputs}

    def visit(tensor):
        # iterative depth-first walk (a model file may chain thousands of calls)
        stack = [(tensor, False)]
        path = []
        while stack:
            t, leaving = stack.pop()
            node = t._node
            if leaving:
                in_progress.discard(id(node))
                path.pop()
                finished.add(id(node))
                order.append(node)
                continue
            if id(node) in finished:
                continue
            if id(node) in in_progress:
                cycle = " -> ".join(f"`{n.layer.name}`" for n in path + [node])
                raise ValueError(f"the graph has a cycle: {cycle}")
            if id(node.layer) not in layer_index:
                layer_index[id(node.layer)] = len(layer_index)
                layers_by_id[id(node.layer)] = node.layer
            in_progress.add(id(node))
            path.append(node)
            stack.append((t, True))
            if not node.is_input and id(t) not in input_ids:
                for dep in reversed(node.inputs):
                    stack.append((dep, False))

    for t in outputs:
        visit(t)
    # depths: an output's node is 0; a node feeding a node of depth d is at least d + 1
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    by_id = {id(n): n for n in order}
    for node in reversed(order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for t in node.inputs:
            dep = t._node
            if id(dep) in by_id:
                node_depth[id(dep)] = max(depth + 1, node_depth.get(id(dep), 0))
    nodes = sorted(order, key=lambda n: -node_depth[id(n)])  # stable: ties in visit order
    layers = sorted(layers_by_id.values(),
                    key=lambda l: (-layer_depth[id(l)], layer_index[id(l)]))
    # every tensor a node reads must be computable from the inputs
    computable = set(input_ids)
    done_layers = []
    for node in nodes:
        if node.is_input:
            if not any(id(t) in input_ids for t in node.outputs):
                raise ValueError(
                    f"graph disconnected: the outputs need input `{node.layer.name}`, which is "
                    f"not among the model's inputs; layers reached without issue: "
                    f"{[l.name for l in done_layers] or 'none'}. Pass it in `inputs`.")
        elif not all(id(t) in input_ids for t in node.outputs):
            for t in node.inputs:
                if id(t) not in computable:
                    raise ValueError(
                        f"graph disconnected: cannot obtain the value of tensor {t.name} (from "
                        f"layer `{t._node.layer.name}`) at layer `{node.layer.name}`; layers "
                        f"reached without issue: {[l.name for l in done_layers] or 'none'}")
        computable.update(id(t) for t in node.outputs)
        done_layers.append(node.layer)
    used = {id(t) for n in nodes for t in n.inputs} | {id(t) for t in outputs}
    for t in inputs:
        if id(t) not in used:
            raise ValueError(f"input `{t._node.layer.name}` is not connected to the model's "
                             f"outputs: no output depends on it. Remove it from `inputs` or "
                             f"use it.")
    return nodes, layers
