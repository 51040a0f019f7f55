"""Export a Sequential to ONNX (``model.to_onnx(path)``), built with ``onnx.helper``.

Graph: input ``input`` ``(batch, timesteps, features)`` float32 (``(batch, timesteps)`` of
indices, as float32, for an ``Embedding`` model), output ``output`` (the prediction). The batch
axis is dynamic, and so is the time axis when the model's timesteps is None. A stateful model
also has, per recurrent layer, inputs ``<layer>_initial_h`` (and ``<layer>_initial_c`` for an
LSTM), shape ``(directions, batch, units)``, and outputs ``<layer>_Y_h`` (``<layer>_Y_c``): the
final states, to feed back as the next call's initial states (streaming with carried state;
ONNX runtimes are stateless, onnx#3190). Feed zeros for the first chunk.

Layers -> ONNX operators (opset 17):
  LSTM       ``LSTM``: W ``(dirs, 4H, I)``, R ``(dirs, 4H, H)`` with gate blocks i, o, f, c
             (Keras: i, f, c, o), B ``(dirs, 8H)`` = [Wb, Rb] with Rb = 0 (Keras has one bias).
             The sequence is time-major: Transpose in and out. ``go_backwards``: the input is
             reversed (Slice, step -1) and the forward op run, as Keras does.
  GRU        ``GRU`` (gate blocks z, r, h in both), ``linear_before_reset=1`` for
             ``reset_after`` (bias rows: input, recurrent).
  SimpleRNN  ``RNN``.
  Bidirectional  the op with ``direction='bidirectional'``; its two outputs merged by the
             merge mode (concat: Reshape; sum/mul/ave: Split, Add/Mul).
  Dense      ``MatMul`` + ``Add`` (+ the activation); on 3D input it acts on the last axis, so
             ``TimeDistributed(Dense)`` is the same nodes.
  Activation ``Sigmoid``/``Tanh``/``Relu``/``Softmax(axis=-1)``/``HardSigmoid`` (Keras 3:
             alpha 1/6, Keras 2 form: alpha 0.2; beta 0.5).
  RepeatVector ``Unsqueeze`` + ``Tile``; Dropout: nothing (inference).
  Embedding  ``Cast`` to int64 + ``Gather``; Conv1D ``Conv`` and the pooling layers
             ``MaxPool``/``AveragePool`` on ``(batch, channels, steps)`` between Transposes
             (``same``: SAME_UPPER, Keras' split; ``causal``: left pads); global pooling
             ``ReduceMax``/``ReduceMean``; Flatten ``Reshape``.
Not exported (ValueError naming the layer): masks (``Masking``, ``Embedding(mask_zero=True)``)
and ``TimeDistributed`` over 4D input.
"""

from __future__ import annotations

import numpy as np

from .. import layers as L


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as e:
        raise ImportError("`to_onnx` needs onnx: `pip install lstmcore[onnx]` (or `pip install "
                          "onnx onnxruntime`)") from e
    return onnx, helper, numpy_helper


# lstmcore activation -> (ONNX RNN activation name, alpha, beta) / element-wise op
_RNN_ACT = {"sigmoid": ("Sigmoid", None, None), "tanh": ("Tanh", None, None),
            "relu": ("Relu", None, None), "linear": ("Affine", 1.0, 0.0),
            "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
            "hard_sigmoid_keras2": ("HardSigmoid", 0.2, 0.5)}


class _Graph:
    def __init__(self, helper, numpy_helper):
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes = []
        self.inits = []
        self.inputs = []
        self.outputs = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint: str, array) -> str:
        name = self.name(hint)
        self.inits.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs, hint=None, outputs=1, **attrs) -> str | list[str]:
        outs = [self.name(hint or op_type.lower()) for _ in range(outputs)] \
            if isinstance(outputs, int) else list(outputs)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs,
                                                name=self.name("node_" + op_type), **attrs))
        return outs[0] if len(outs) == 1 else outs


def _activation(g: _Graph, x: str, act: str) -> str:
    if act == "linear":
        return x
    if act == "softmax":
        return g.op("Softmax", [x], axis=-1)
    if act in ("hard_sigmoid", "hard_sigmoid_keras2"):
        _, alpha, beta = _RNN_ACT[act]
        return g.op("HardSigmoid", [x], alpha=alpha, beta=beta)
    return g.op({"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[act], [x])


def _dense(g: _Graph, x: str, layer) -> str:
    w = layer.get_weights()
    y = g.op("MatMul", [x, g.const(layer.name + "_kernel", w[0])])
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.name + "_bias", w[1])])
    return _activation(g, y, layer.activation)


def _lstm_blocks(m: np.ndarray) -> np.ndarray:
    """Rows in Keras' gate order i, f, c, o -> ONNX's i, o, f, c (axis 0)."""
    i, f, c, o = np.split(m, 4, axis=0)
    return np.concatenate([i, o, f, c], axis=0)


def _rnn_weights(layer):
    """(W, R, B) of one direction in ONNX layout, and the op's extra attributes."""
    w = layer.get_weights()
    kernel, recurrent = w[0].T, w[1].T          # (G*H, I), (G*H, H)
    G = kernel.shape[0]
    if layer.use_bias:
        bias = w[2]
    else:
        bias = np.zeros((2, G) if getattr(layer, "reset_after", False) else (G,), np.float32)
    if isinstance(layer, L.LSTM):
        return _lstm_blocks(kernel), _lstm_blocks(recurrent), \
            np.concatenate([_lstm_blocks(bias), np.zeros(G, np.float32)])
    if isinstance(layer, L.GRU) and layer.reset_after:
        return kernel, recurrent, np.concatenate([bias[0], bias[1]])
    return kernel, recurrent, np.concatenate([bias, np.zeros(G, np.float32)])


def _recurrent(g: _Graph, x: str, layer, dirs, merge, stateful) -> str:
    """One recurrent op over x (batch, T, I); dirs: the direction layers (1 or 2)."""
    cell = dirs[0]
    op = {L.LSTM: "LSTM", L.GRU: "GRU", L.SimpleRNN: "RNN"}[type(cell)]
    H = cell.units
    acts = [cell.recurrent_activation, cell.activation, cell.activation] if op == "LSTM" else \
        [cell.recurrent_activation, cell.activation] if op == "GRU" else [cell.activation]
    names, alphas, betas = [], [], []
    for _ in dirs:
        for a in acts:
            name, alpha, beta = _RNN_ACT.get(a, (None, None, None))
            if name is None:
                raise ValueError(f"`to_onnx`: layer `{layer.name}` uses activation {a!r}, which "
                                 f"the ONNX {op} op does not have")
            names.append(name)
            if alpha is not None:  # consumed in order by the functions that take them
                alphas.append(alpha)
                betas.append(beta)
    attrs = {"hidden_size": H, "activations": names}
    if alphas:
        attrs.update(activation_alpha=alphas, activation_beta=betas)
    if len(dirs) == 2:
        attrs["direction"] = "bidirectional"
    if op == "GRU":
        attrs["linear_before_reset"] = int(cell.reset_after)
    parts = [_rnn_weights(d) for d in dirs]
    W, R, B = (np.stack([p[k] for p in parts]).astype(np.float32) for k in range(3))
    xt = g.op("Transpose", [x], perm=[1, 0, 2])   # (T, batch, I)
    if len(dirs) == 1 and cell.go_backwards:     # Keras: the reversed sequence, run forwards
        xt = g.op("Slice", [xt, g.const("start", np.array([-1], np.int64)),
                            g.const("end", np.array([-(2**62)], np.int64)),
                            g.const("axis", np.array([0], np.int64)),
                            g.const("step", np.array([-1], np.int64))])
    inputs = [xt, g.const(layer.name + "_W", W), g.const(layer.name + "_R", R),
              g.const(layer.name + "_B", B)]
    n_states = 2 if op == "LSTM" else 1
    outs = [g.name(layer.name + "_Y"), g.name(layer.name + "_Yh")]
    if n_states == 2:
        outs.append(g.name(layer.name + "_Yc"))
    if stateful:
        h, w = g.helper, len(dirs)
        inputs += ["", f"{layer.name}_initial_h"]
        g.inputs.append(h.make_tensor_value_info(f"{layer.name}_initial_h", 1, [w, "batch", H]))
        if n_states == 2:
            inputs.append(f"{layer.name}_initial_c")
            g.inputs.append(h.make_tensor_value_info(f"{layer.name}_initial_c", 1,
                                                     [w, "batch", H]))
    g.op(op, inputs, outputs=outs, **attrs)
    if stateful:
        g.op("Identity", [outs[1]], outputs=[f"{layer.name}_Y_h"])
        g.outputs.append(g.helper.make_tensor_value_info(f"{layer.name}_Y_h", 1,
                                                         [len(dirs), "batch", H]))
        if n_states == 2:
            g.op("Identity", [outs[2]], outputs=[f"{layer.name}_Y_c"])
            g.outputs.append(g.helper.make_tensor_value_info(f"{layer.name}_Y_c", 1,
                                                             [len(dirs), "batch", H]))
    axes = g.const  # shorthand for int64 axes inputs
    if cell.return_sequences:
        y = outs[0]                                              # (T, dirs, batch, H)
        if len(dirs) == 1:
            y = g.op("Squeeze", [y, axes("axes", np.array([1], np.int64))])
            return g.op("Transpose", [y], perm=[1, 0, 2])        # (batch, T, H)
        y = g.op("Transpose", [y], perm=[2, 0, 1, 3])            # (batch, T, 2, H)
        return _merge(g, y, merge, axis=2)
    y = outs[1]                                                  # (dirs, batch, H)
    if len(dirs) == 1:
        return g.op("Squeeze", [y, axes("axes", np.array([0], np.int64))])
    y = g.op("Transpose", [y], perm=[1, 0, 2])                   # (batch, 2, H)
    return _merge(g, y, merge, axis=1)


def _merge(g: _Graph, y: str, merge: str, axis: int) -> str:
    """Merge the direction axis: concat (forward then backward) or element-wise."""
    if merge == "concat":
        shape = [0] * axis + [-1]
        return g.op("Reshape", [y, g.const("shape", np.array(shape, np.int64))])
    fwd, bwd = g.op("Split", [y], outputs=2, axis=axis)
    if merge == "mul":
        out = g.op("Mul", [fwd, bwd])
    else:
        out = g.op("Add", [fwd, bwd])
        if merge == "ave":
            out = g.op("Mul", [out, g.const("half", np.array(0.5, np.float32))])
    return g.op("Squeeze", [out, g.const("axes", np.array([axis], np.int64))])


def _channels_first(g: _Graph, x: str, make) -> str:
    y = g.op("Transpose", [x], perm=[0, 2, 1])
    return g.op("Transpose", [make(y)], perm=[0, 2, 1])


def _conv1d(g: _Graph, x: str, layer) -> str:
    w = layer.get_weights()
    attrs = {"kernel_shape": [layer.kernel_size], "strides": [layer.strides],
             "dilations": [layer.dilation_rate]}
    span = layer.dilation_rate * (layer.kernel_size - 1) + 1
    if layer.padding == "same" and layer.strides == 1:  # (Keras: dilation only with stride 1)
        attrs["pads"] = [(span - 1) // 2, span - 1 - (span - 1) // 2]  # odd step on the right
    elif layer.padding == "same":
        attrs["auto_pad"] = "SAME_UPPER"   # the odd padded step on the right, as Keras
    elif layer.padding == "causal":
        attrs["pads"] = [span - 1, 0]
    else:
        attrs["pads"] = [0, 0]

    def conv(y):
        inputs = [y, g.const(layer.name + "_kernel", np.ascontiguousarray(w[0].transpose(2, 1, 0)))]
        if layer.use_bias:
            inputs.append(g.const(layer.name + "_bias", w[1]))
        return g.op("Conv", inputs, **attrs)
    return _activation(g, _channels_first(g, x, conv), layer.activation)


def _pool(g: _Graph, x: str, layer) -> str:
    op = "MaxPool" if isinstance(layer, L.MaxPooling1D) else "AveragePool"
    attrs = {"kernel_shape": [layer.pool_size], "strides": [layer.strides]}
    attrs["auto_pad"] = "SAME_UPPER" if layer.padding == "same" else "VALID"
    return _channels_first(g, x, lambda y: g.op(op, [y], **attrs))


def _layer(g: _Graph, x: str, layer, shape, stateful: bool) -> str:
    where = f"`to_onnx`: layer `{layer.name}` ({type(layer).__name__})"
    if isinstance(layer, (L.LSTM, L.GRU, L.SimpleRNN)):
        return _recurrent(g, x, layer, [layer], None, stateful)
    if isinstance(layer, L.Bidirectional):
        return _recurrent(g, x, layer, [layer.forward_layer, layer.backward_layer],
                          layer.merge_mode, stateful)
    if isinstance(layer, L.Dense):
        return _dense(g, x, layer)
    if isinstance(layer, L.Activation):
        return _activation(g, x, layer.activation)
    if isinstance(layer, L.Dropout):
        return x
    if isinstance(layer, L.TimeDistributed):
        if len(shape) != 2:
            raise ValueError(f"{where}: TimeDistributed over 4D input (subsequences) is not "
                             f"exported")
        return _layer(g, x, layer.layer, shape[1:], stateful)
    if isinstance(layer, L.RepeatVector):
        y = g.op("Unsqueeze", [x, g.const("axes", np.array([1], np.int64))])
        return g.op("Tile", [y, g.const("repeats", np.array([1, layer.n, 1], np.int64))])
    if isinstance(layer, L.Embedding):
        if layer.mask_zero:
            raise ValueError(f"{where}: mask_zero=True (masked timesteps) is not exported")
        idx = g.op("Cast", [x], to=7)  # int64
        return g.op("Gather", [g.const(layer.name + "_embeddings", layer.get_weights()[0]), idx],
                    axis=0)
    if isinstance(layer, L.Conv1D):
        return _conv1d(g, x, layer)
    if isinstance(layer, (L.MaxPooling1D, L.AveragePooling1D)):
        return _pool(g, x, layer)
    if isinstance(layer, (L.GlobalMaxPooling1D, L.GlobalAveragePooling1D)):
        op = "ReduceMax" if isinstance(layer, L.GlobalMaxPooling1D) else "ReduceMean"
        return g.op(op, [x], axes=[1], keepdims=int(layer.keepdims))
    if isinstance(layer, L.Flatten):
        if len(shape) == 1:
            return x
        return g.op("Reshape", [x, g.const("shape", np.array([0, -1], np.int64))])
    raise ValueError(f"{where} has no ONNX export (exported: LSTM, GRU, SimpleRNN, "
                     f"Bidirectional, Dense, Activation, Dropout, TimeDistributed, RepeatVector, "
                     f"Embedding, Conv1D, the 1D pooling layers, Flatten)")


def _dims(shape, timesteps_name="timesteps"):
    return ["batch"] + [timesteps_name if (i == 0 and d is None) else d
                        for i, d in enumerate(shape)]


def to_onnx(model, path, opset: int = 17) -> None:
    """Write ``model`` (a built Sequential) to ``path`` as an ONNX model.

    Args:
        model: the model; its current weights are written.
        path: the file to write (``.onnx``).
        opset: the ONNX opset (17 or later). Default: 17.

    Inputs: ``input``; for a stateful model also ``<layer>_initial_h`` / ``<layer>_initial_c``
    per recurrent layer. Outputs: ``output`` first, then, for a stateful model,
    ``<layer>_Y_h`` / ``<layer>_Y_c``. See the module docstring for the operator mapping.

    Raises:
        ValueError: the model is not built, or a layer has no export (named).
        ImportError: onnx is not installed (``pip install lstmcore[onnx]``).

    >>> model.to_onnx("model.onnx")                                   # doctest: +SKIP
    >>> import onnxruntime as ort                                     # doctest: +SKIP
    >>> ort.InferenceSession("model.onnx").run(None, {"input": x})[0]  # doctest: +SKIP
    """
    from ..models import Sequential
    if not isinstance(model, Sequential):
        raise TypeError(f"`to_onnx` exports an lstmcore Sequential; received "
                        f"{type(model).__name__}")
    if not model.built:
        raise ValueError("`to_onnx`: the model has not been built yet: give the first layer "
                         "`input_shape=` or call fit/predict on data first")
    if int(opset) < 17:
        raise ValueError(f"`to_onnx` writes opset 17 or later; received opset={opset}")
    onnx, helper, numpy_helper = _onnx()
    g = _Graph(helper, numpy_helper)
    with model._guard.mutex:
        stateful = model._stateful()
        shape = tuple(model._input_shape)
        g.inputs.append(helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                      _dims(shape)))
        x = "input"
        for layer in model.layers:
            x = _layer(g, x, layer, shape, stateful)
            shape = layer.compute_output_shape(shape)
    g.op("Identity", [x], outputs=["output"])
    out = helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT,
                                        ["batch"] + [d for d in shape])
    graph = helper.make_graph(g.nodes, model.name, g.inputs, [out] + g.outputs,
                              initializer=g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="lstmcore")
    onnx.checker.check_model(proto)
    onnx.save(proto, path)
