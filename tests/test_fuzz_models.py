"""Random models with huge, zero and ordinary dimensions, random inputs: every call gives a
Python exception or the correct result, never a crash (CI also runs this under ASan+UBSan).

Dimensions come both through the public constructors and through ``from_config`` (what a
model file would declare), since a file is where hostile sizes arrive."""

import numpy as np
import pytest
from conftest import EPS32, build_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lstmcore.models import Sequential

HUGE = [2**31 - 1, 2**31, 2**32 + 1, 2**40, 2**62, 2**63 - 1, 2**63, 2**64]
# exceptions a refused model or call may raise: never anything else, never a crash
REFUSED = (ValueError, TypeError, MemoryError, OverflowError)


def dim(draw, small=(1, 2, 3, 5, 8)):
    kind = draw(st.sampled_from(["small"] * 12 + ["zero", "huge", "negative"]))
    if kind == "small":
        return draw(st.sampled_from(small))
    if kind == "zero":
        return 0
    if kind == "negative":
        return -draw(st.sampled_from([1, 2**31, 2**63]))
    return draw(st.sampled_from(HUGE))


@st.composite
def models(draw):
    T = dim(draw)
    F = dim(draw)
    layers, specs = [], []
    n = draw(st.integers(1, 3))
    seq = True  # the current output is a sequence (mostly valid stacks; sometimes not)
    for i in range(n):
        valid = ["lstm", "lstm", "dense", "conv", "pool", "flatten"] if seq else ["repeat", "dense"]
        kind = draw(st.sampled_from(valid if draw(st.integers(0, 5)) else ["lstm", "repeat"]))
        cfg = {"name": f"l{i}"}
        if i == 0:
            cfg["batch_input_shape"] = [None, None if draw(st.booleans()) else T, F]
        if kind == "lstm":
            cfg.update(units=dim(draw), return_sequences=draw(st.booleans()))
            layers.append({"class_name": "LSTM", "config": cfg})
            seq = cfg["return_sequences"]
            specs.append({"type": "lstm", "return_sequences": cfg["return_sequences"]})
        elif kind == "repeat":
            cfg["n"] = dim(draw)
            layers.append({"class_name": "RepeatVector", "config": cfg})
            seq = True
            specs.append({"type": "repeat_vector", "n": cfg["n"]})
        elif kind == "conv":
            cfg.update(filters=dim(draw), kernel_size=draw(st.sampled_from([1, 2, 3, 5, 0, -1])),
                       strides=draw(st.sampled_from([1, 2, 3])),
                       padding=draw(st.sampled_from(["valid", "same", "causal"])))
            layers.append({"class_name": "Conv1D", "config": cfg})
            specs.append({"type": "conv1d", "strides": cfg["strides"], "padding": cfg["padding"]})
        elif kind == "pool":
            cls = draw(st.sampled_from(["MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D"]))
            if cls == "GlobalMaxPooling1D":
                seq = False
                specs.append({"type": "global_max_pooling1d"})
            else:
                cfg.update(pool_size=draw(st.sampled_from([1, 2, 3, 0])),
                           padding=draw(st.sampled_from(["valid", "same"])))
                specs.append({"type": "max_pooling1d" if cls == "MaxPooling1D"
                              else "average_pooling1d", "pool_size": cfg["pool_size"],
                              "padding": cfg["padding"]})
            layers.append({"class_name": cls, "config": cfg})
        elif kind == "flatten":
            layers.append({"class_name": "Flatten", "config": cfg})
            specs.append({"type": "flatten"})
            seq = False
        else:
            cfg["units"] = dim(draw)
            layers.append({"class_name": "Dense", "config": cfg})
            specs.append({"type": "dense", "activation": "linear"})
    # mostly inputs that fit the declared shape, sometimes empty or mismatched ones
    fits = 0 < F < 64 and draw(st.integers(0, 4)) > 0
    x_shape = (draw(st.sampled_from([1, 1, 2, 3, 0])),
               T if 0 < T < 64 and draw(st.booleans()) else draw(st.sampled_from([1, 2, 4, 0])),
               F if fits else draw(st.sampled_from([0, 1, 2, 3])))
    return {"name": "fuzz", "layers": layers}, specs, x_shape, draw(st.integers(0, 2**16))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(models())
def test_random_model_never_crashes(case):
    config, specs, x_shape, seed = case
    try:
        model = Sequential.from_config(config)
    except REFUSED:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    try:
        out = model.predict(x)
    except REFUSED:
        out = None
    if out is not None:
        # it ran: it must be right (the float64 reference on the same weights)
        ref = build_reference(specs, model.get_weights())
        want = ref.forward(x.astype(np.float64))
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=50 * EPS32)
    try:
        model.compile("adam", "mse")
        y = rng.standard_normal((x_shape[0],) + tuple(model.output_shape[1:] or ())).astype(
            np.float32) if model.built and None not in model.output_shape[1:] else x
        model.fit(x, y, epochs=1, verbose=0)
    except REFUSED:
        pass
    if model.built:
        assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("n", [2**62, 2**40, 2**31])
def test_repeat_vector_between_lstms_from_a_config(n):
    # the probe: a file with RepeatVector(2**62) between two LSTMs crashed predict
    config = {"name": "m", "layers": [
        {"class_name": "LSTM", "config": {"units": 2, "batch_input_shape": [None, 3, 1]}},
        {"class_name": "RepeatVector", "config": {"n": n}},
        {"class_name": "LSTM", "config": {"units": 2}}]}
    try:
        model = Sequential.from_config(config)
    except ValueError:
        return
    with pytest.raises(REFUSED):
        model.predict(np.zeros((4, 3, 1), np.float32))
