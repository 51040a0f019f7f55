"""Keras 2 spellings of published scripts: batch_size= with input_shape= on the first layer,
shape arguments on later layers (ignored with a warning), lazily resolved Keras 2 layer
modules (lstmcore.layers.core, .recurrent, ...)."""

import warnings

import numpy as np
import pytest
from lstmcore.layers import LSTM, Dense
from lstmcore.models import Sequential, load_model

T, F = 5, 2
X = np.random.default_rng(0).normal(size=(4, T, F)).astype(np.float32)


# ---- batch_size= on the first layer -------------------------------------------------------------
def test_batch_size_with_input_shape_fixes_the_batch():
    a = Sequential([LSTM(3, batch_size=1, input_shape=(T, F), stateful=True), Dense(1)])
    b = Sequential([LSTM(3, batch_input_shape=(1, T, F), stateful=True), Dense(1)])
    assert a.input_shape == b.input_shape == (1, T, F)
    assert a.layers[0].get_config()["batch_input_shape"] == [1, T, F]
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.predict(X, batch_size=1), b.predict(X, batch_size=1))
    with pytest.raises(ValueError, match=r"batch size 1 \(from batch_input_shape\)"):
        a.predict(X, batch_size=2)


def test_batch_size_with_input_dim():
    m = Sequential([LSTM(3, batch_size=2, input_dim=F, input_length=T), Dense(1)])
    assert m.input_shape == (2, T, F)
    d = Sequential([Dense(2, input_dim=3, batch_size=4)])
    assert d.input_shape == (4, 3)


@pytest.mark.parametrize("kwargs, msg", [
    ({"batch_size": 2}, r"`LSTM\(batch_size=...\)` fixes the batch size of the model's input and "
                        r"goes with `input_shape=`"),
    ({"batch_size": 0, "input_shape": (T, F)}, r"`LSTM` expects `batch_size` to be a positive "
                                               r"integer; received batch_size=0"),
    ({"batch_size": 2, "batch_input_shape": (3, T, F)}, r"received batch_size=2 and "
                                                        r"batch_input_shape=\(3, 5, 2\)"),
])
def test_batch_size_errors(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        LSTM(3, **kwargs)


def test_batch_size_agreeing_with_batch_input_shape():
    assert LSTM(3, batch_size=3, batch_input_shape=(3, T, F))._batch_input_shape == (3, T, F)


def test_stateful_without_a_batch_size_names_both_spellings():
    with pytest.raises(ValueError, match=r"needs a fixed batch size.*`batch_size=` with "
                                         r"`input_shape=`"):
        LSTM(3, stateful=True, input_shape=(T, F))


# ---- shape arguments on later layers ------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"input_shape": (7,)}, {"input_dim": 3},
                                    {"batch_input_shape": (1, 3)},
                                    {"batch_size": 8, "input_dim": 3}])
def test_later_layer_shape_is_ignored_with_a_warning(kwargs):
    ref = Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
    with pytest.warns(UserWarning, match=r"layer `dense_\w*` is not the first layer of the "
                                         r"model: its input shape .* is ignored, as Keras does"):
        m = Sequential([LSTM(3, input_shape=(T, F)), Dense(1, **kwargs)])
    assert m.input_shape == ref.input_shape and m.output_shape == ref.output_shape
    assert "batch_input_shape" not in m.layers[1].get_config()
    m.compile(optimizer="adam", loss="mse")
    m.fit(X, np.zeros((4, 1)), verbose=0)


def test_stacked_stateful_lstms_each_with_batch_input_shape(tmp_path):
    # the Keras 2 tutorial spelling: every stateful LSTM repeats batch_input_shape
    with pytest.warns(UserWarning, match=r"is not the first layer"):
        m = Sequential([
            LSTM(4, batch_input_shape=(2, T, F), stateful=True, return_sequences=True),
            LSTM(4, batch_input_shape=(2, T, F), stateful=True),
            Dense(1)])
    assert m.input_shape == (2, T, F)
    m.compile(optimizer="adam", loss="mse")
    m.fit(X, np.zeros((4, 1)), batch_size=2, shuffle=False, verbose=0)
    m.save(tmp_path / "m.lstmcore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file carries no ignored shape: loads silently
        m2 = load_model(tmp_path / "m.lstmcore")
    m.reset_states()
    np.testing.assert_array_equal(m2.predict(X, batch_size=2), m.predict(X, batch_size=2))


def test_ignored_shape_is_restored_when_the_add_fails():
    m = Sequential([LSTM(3, input_shape=(T, F))])
    layer = LSTM(2, input_shape=(T, 3))  # an LSTM after a 2D output: refused
    with pytest.warns(UserWarning, match=r"is not the first layer"), \
            pytest.raises(ValueError, match=r"`LSTM` expects 3D input"):
        m.add(layer)
    assert layer._batch_input_shape == (None, T, 3) and len(m.layers) == 1


# ---- Keras 2 layer modules ----------------------------------------------------------------------
KERAS2_MODULES = ["core", "recurrent", "convolutional", "embeddings", "pooling", "wrappers"]


def test_keras2_module_imports_of_the_layers_there_now():
    from lstmcore import layers
    from lstmcore.layers.core import Activation, Dense, Dropout, RepeatVector
    from lstmcore.layers.recurrent import LSTM as LSTM2
    from lstmcore.layers.wrappers import Bidirectional, TimeDistributed
    assert (Dense, Activation, Dropout, RepeatVector, LSTM2, TimeDistributed, Bidirectional) == \
        (layers.Dense, layers.Activation, layers.Dropout, layers.RepeatVector, layers.LSTM,
         layers.TimeDistributed, layers.Bidirectional)


@pytest.mark.parametrize("module", KERAS2_MODULES)
def test_keras2_module_resolves_every_listed_name_or_says_it_is_missing(module):
    """Every Keras 2 name of the module is lstmcore.layers' class of that name (or the class
    Keras 2 aliased), or an ImportError naming it: layers added later appear by themselves."""
    import importlib

    from lstmcore import layers
    from lstmcore.layers._keras2 import MODULES
    mod = importlib.import_module(f"lstmcore.layers.{module}")
    available = []
    for name, target in MODULES[module].items():
        if hasattr(layers, target):
            assert getattr(mod, name) is getattr(layers, target)
            available.append(name)
        else:
            with pytest.raises(ImportError, match=rf"lstmcore does not implement `{name}` "
                                                  rf"\(Keras 2's keras\.layers\.{module}\.{name}\)"):
                getattr(mod, name)
    assert mod.__all__ == available
    assert set(available) <= set(dir(mod))
    namespace = {}
    exec(f"from lstmcore.layers.{module} import *", namespace)  # noqa: S102
    assert {k for k in namespace if k != "__builtins__"} == set(available)


def test_keras2_module_unimplemented_and_unknown_names():
    with pytest.raises(ImportError, match=r"lstmcore does not implement `Conv2D` \(Keras 2's "
                                          r"keras\.layers\.convolutional\.Conv2D\)"):
        from lstmcore.layers.convolutional import Conv2D  # noqa: F401
    with pytest.raises(ImportError, match=r"does not implement `Lambda`.*lstmcore\.layers\.core "
                                          r"has: Dense, Activation, Dropout"):
        from lstmcore.layers.core import Lambda  # noqa: F401
    import lstmcore.layers.core as core
    assert not hasattr(core, "NotAKerasLayer")  # not a Keras 2 name: a plain AttributeError
    with pytest.raises(AttributeError, match=r"has no attribute 'NotAKerasLayer'"):
        core.NotAKerasLayer  # noqa: B018


# ---- save('model.h5') ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model.h5", "weights.HDF5", "model.keras"])
def test_saving_under_a_keras_name_warns_and_still_loads(tmp_path, name):
    m = Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    path = tmp_path / name
    with pytest.warns(UserWarning, match=r"lstmcore writes its own format whatever the file name, "
                                         r"a zip of JSON and \.npy arrays that "
                                         r"lstmcore\.models\.load_model reads"):
        m.save(path)
    np.testing.assert_array_equal(load_model(path).predict(X), m.predict(X))
    with pytest.warns(UserWarning, match=r"`save_weights\("):
        m.save_weights(path)
    m2 = Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
    m2.load_weights(path)
    np.testing.assert_array_equal(m2.predict(X), m.predict(X))


def test_saving_under_other_names_is_silent(tmp_path):
    m = Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.save(tmp_path / "model.lstmcore")
        m.save(str(tmp_path / "model"))
        m.save_weights(tmp_path / "w.h5.bak")
