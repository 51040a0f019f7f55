"""Every user-facing error: the exception type, a message that says what is wrong, what was
expected and how to fix it (STYLE.md section 7), and that the failed call left the model as
it was (same predictions, same weights, still trainable).
"""

import numpy as np
import pytest
from lstmcore.layers import LSTM, Bidirectional, Dense, Dropout, RepeatVector, TimeDistributed
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD, Adam, RMSprop

N, T, F = 12, 5, 2


def _rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


class Guard:
    """A compiled model plus its predictions and weights, to check after each error that
    nothing changed."""

    def __init__(self, model, x):
        self.model, self.x = model, x
        self.pred = model.predict(x)
        self.weights = model.get_weights()

    def unchanged(self):
        np.testing.assert_array_equal(self.model.predict(self.x), self.pred)
        for a, b in zip(self.model.get_weights(), self.weights):
            np.testing.assert_array_equal(a, b)


@pytest.fixture
def guard():
    model = Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    g = Guard(model, _rand((N, T, F)))
    yield g
    g.unchanged()
    # and the model still trains afterwards
    h = g.model.fit(g.x, np.zeros((N, 1)), epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])


Y = np.zeros((N, 1))


# ---------------------------------------------------------------------------------------------
# Input rank and shape
# ---------------------------------------------------------------------------------------------
def test_2d_input_to_lstm_model_shows_the_reshape():
    model = Sequential([LSTM(3, input_shape=(10, 1)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    g = Guard(model, _rand((4, 10, 1)))
    x = np.zeros((32, 10))
    msg = (r"`LSTM` expects 3D input \(samples, timesteps, features\); received `x` with shape "
           r"\(32, 10\)\. For 32 samples of 10 timesteps with one feature each, pass "
           r"`x\.reshape\(32, 10, 1\)`")
    with pytest.raises(ValueError, match=msg):
        model.predict(x)
    with pytest.raises(ValueError, match=msg):
        model.fit(x, np.zeros((32, 1)), verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.evaluate(x, np.zeros((32, 1)), verbose=0)
    with pytest.raises(ValueError, match=msg):
        model.train_on_batch(x, np.zeros((32, 1)))
    g.unchanged()
    # the suggested reshape works
    assert model.predict(x.reshape(32, 10, 1)).shape == (32, 1)


def test_2d_input_with_several_features_suggests_timesteps_by_features(guard):
    with pytest.raises(ValueError, match=r"received `x` with shape \(7, 10\).*"
                                         r"`x\.reshape\(7, 5, 2\)`"):
        guard.model.predict(np.zeros((7, 10)))


def test_1d_input_shows_the_reshape(guard):
    with pytest.raises(ValueError, match=r"3D input \(samples, timesteps, features\); received "
                                         r"`x` with shape \(10,\).*`x\.reshape\(1, 10, 1\)`"):
        guard.model.predict(np.arange(10.0))


def test_2d_input_to_an_unbuilt_model():
    model = Sequential([LSTM(3), Dense(1)])
    with pytest.raises(ValueError, match=r"3D input.*\(32, 10\).*`x\.reshape\(32, 10, 1\)`"):
        model.predict(np.zeros((32, 10)))
    assert not model.built


def test_4d_input(guard):
    with pytest.raises(ValueError, match=r"3D input.*shape \(2, 5, 2, 1\)"):
        guard.model.predict(np.zeros((2, T, F, 1)))


def test_wrong_feature_count(guard):
    with pytest.raises(ValueError, match=r"expects 2 features per timestep \(input shape "
                                         r"\(None, 5, 2\)\); received `x` with shape \(12, 5, 3\)"):
        guard.model.predict(np.zeros((N, T, 3)))
    with pytest.raises(ValueError, match=r"expects 2 features"):
        guard.model.fit(np.zeros((N, T, 3)), Y, verbose=0)


def test_wrong_timesteps_with_a_fixed_input_shape(guard):
    with pytest.raises(ValueError, match=r"defined with 5 timesteps.*received `x` with shape "
                                         r"\(12, 7, 2\)\. Use input_shape=\(None, 2\)"):
        guard.model.predict(np.zeros((N, 7, F)))
    with pytest.raises(ValueError, match=r"defined with 5 timesteps"):
        guard.model.evaluate(np.zeros((N, 4, F)), Y, verbose=0)


def test_input_shape_none_accepts_any_length():
    model = Sequential([LSTM(3, input_shape=(None, F)), Dense(1)])
    for steps in (1, 5, 17):
        assert model.predict(_rand((2, steps, F))).shape == (2, 1)
    with pytest.raises(ValueError, match=r"zero timesteps"):
        model.predict(np.zeros((2, 0, F)))


def test_validation_data_is_checked_before_training(guard):
    xv = np.zeros((4, T, 3))
    with pytest.raises(ValueError, match=r"expects 2 features.*`x_val`"):
        guard.model.fit(guard.x, Y, validation_data=(xv, np.zeros((4, 1))), verbose=0)
    with pytest.raises(ValueError, match=r"`x` has 4 samples but `y_val` has 3"):
        guard.model.fit(guard.x, Y, validation_data=(_rand((4, T, F)), np.zeros((3, 1))), verbose=0)
    with pytest.raises(ValueError, match=r"`validation_data` must be a tuple \(x_val, y_val\)"):
        guard.model.fit(guard.x, Y, validation_data=_rand((4, T, F)), verbose=0)
    with pytest.raises(ValueError, match=r"`validation_split` must be in \[0, 1\); received 1.5"):
        guard.model.fit(guard.x, Y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match=r"`validation_split=0.95` leaves no training samples "
                                         r"out of 12"):
        guard.model.fit(guard.x, Y, validation_split=0.95, verbose=0)
    with pytest.raises(ValueError, match=r"leaves no validation samples out of 12"):
        guard.model.fit(guard.x, Y, validation_split=1e-17, verbose=0)  # 12 * (1 - 1e-17) == 12


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------
def test_mismatched_sample_counts(guard):
    with pytest.raises(ValueError, match=r"`x` has 12 samples but `y` has 11; pass one target "
                                         r"per sample"):
        guard.model.fit(guard.x, np.zeros((11, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"`x` has 12 samples but `y` has 13"):
        guard.model.evaluate(guard.x, np.zeros((13, 1)), verbose=0)


def test_y_of_the_wrong_shape(guard):
    with pytest.raises(ValueError, match=r"`y` must have shape \(12, 1\) to match the model's "
                                         r"output \(None, 1\); received shape \(12, 3\)"):
        guard.model.fit(guard.x, np.zeros((N, 3)), verbose=0)
    # (12,) for one output is accepted, as Keras does
    guard.model.evaluate(guard.x, np.zeros(N), verbose=0)


def test_categorical_crossentropy_with_integer_labels_hints_at_sparse():
    model = Sequential([LSTM(3, input_shape=(T, F)), Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    g = Guard(model, _rand((N, T, F)))
    with pytest.raises(ValueError, match=r"must have shape \(12, 4\).*received shape \(12,\)\. "
                                         r"For integer class labels use "
                                         r"loss='sparse_categorical_crossentropy' or one-hot"):
        model.fit(g.x, np.arange(N) % 4, verbose=0)
    g.unchanged()


def test_sparse_labels_out_of_range_or_not_integers():
    model = Sequential([LSTM(3, input_shape=(T, F)), Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    g = Guard(model, _rand((N, T, F)))
    labels = np.arange(N) % 4
    bad = labels.copy()
    bad[5] = 4
    with pytest.raises(ValueError, match=r"integer class indices in \[0, 3\].*received values in "
                                         r"\[0.0, 4.0\]"):
        model.fit(g.x, bad, verbose=0)
    with pytest.raises(ValueError, match=r"integer class indices in \[0, 3\]"):
        model.evaluate(g.x, labels - 1, verbose=0)
    with pytest.raises(ValueError, match=r"integer class indices in \[0, 3\]"):
        model.fit(g.x, labels + 0.5, verbose=0)
    with pytest.raises(ValueError, match=r"integer class indices; received dtype <U1"):
        model.fit(g.x, np.array(list("abcdabcdabcd")), verbose=0)
    with pytest.raises(ValueError, match=r"1 class index per sample.*received shape \(12, 4\)"):
        model.fit(g.x, np.eye(4)[labels], verbose=0)
    g.unchanged()
    # (N,) and (N, 1) integer labels both work
    model.evaluate(g.x, labels, verbose=0)
    model.evaluate(g.x, labels.reshape(N, 1), verbose=0)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x_names_the_array_and_the_first_index(guard, bad):
    x = guard.x.copy()
    x[3, 2, 1] = bad
    x[7, 0, 0] = bad
    msg = rf"`x` contains {bad} at index \(3, 2, 1\); remove or impute"
    with pytest.raises(ValueError, match=msg):
        guard.model.predict(x)
    with pytest.raises(ValueError, match=msg):
        guard.model.fit(x, Y, verbose=0)
    with pytest.raises(ValueError, match=msg):
        guard.model.evaluate(x, Y, verbose=0)
    with pytest.raises(ValueError, match=msg):
        guard.model.predict_on_batch(x)
    with pytest.raises(ValueError, match=msg):
        guard.model.train_on_batch(x, Y)
    with pytest.raises(ValueError, match=rf"`x_val` contains {bad} at index \(3, 2, 1\)"):
        guard.model.fit(guard.x, Y, validation_data=(x, Y), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_y_names_the_array_and_the_first_index(guard, bad):
    y = np.zeros((N, 1))
    y[9, 0] = bad
    with pytest.raises(ValueError, match=rf"`y` contains {bad} at index \(9, 0\)"):
        guard.model.fit(guard.x, y, verbose=0)
    with pytest.raises(ValueError, match=rf"`y` contains {bad} at index \(9, 0\)"):
        guard.model.evaluate(guard.x, y, verbose=0)
    with pytest.raises(ValueError, match=rf"`y` contains {bad}"):
        guard.model.train_on_batch(guard.x, y)
    with pytest.raises(ValueError, match=rf"`y_val` contains {bad} at index \(9, 0\)"):
        guard.model.fit(guard.x, Y, validation_data=(guard.x, y), verbose=0)
    y1 = np.zeros(N)
    y1[4] = bad
    with pytest.raises(ValueError, match=rf"`y` contains {bad} at index 4"):
        guard.model.fit(guard.x, y1, verbose=0)


def test_values_beyond_float32_range_become_inf_and_are_rejected(guard):
    x = guard.x.astype(np.float64)
    x[1, 1, 1] = 1e39
    with pytest.raises(ValueError, match=r"`x` contains inf at index \(1, 1, 1\).*beyond "
                                         r"float32's range"):
        guard.model.predict(x)


def test_strings_and_object_arrays(guard):
    with pytest.raises(ValueError, match=r"`x` must be numeric \(float or int\); received an "
                                         r"array of dtype <U1.*np\.asarray\(x, dtype=np\.float32\)"):
        guard.model.predict(np.full((N, T, F), "a"))
    obj = np.empty((N, T, F), dtype=object)
    obj[...] = 1.0
    with pytest.raises(ValueError, match=r"`x` must be numeric.*dtype object"):
        guard.model.predict(obj)
    with pytest.raises(ValueError, match=r"`y` must be numeric.*dtype <U"):
        guard.model.fit(guard.x, np.array([["no"]] * N), verbose=0)
    with pytest.raises(ValueError, match=r"`x` must be a numeric array-like|`x` must be numeric"):
        guard.model.predict([[[1.0, 2.0]], [[1.0]]])  # ragged
    with pytest.raises(ValueError, match=r"`x` is required; received None"):
        guard.model.predict(None)
    with pytest.raises(ValueError, match=r"`y` is required"):
        guard.model.fit(guard.x, None, verbose=0)


def test_empty_arrays(guard):
    with pytest.raises(ValueError, match=r"`x` has no samples \(shape \(0, 5, 2\)\)"):
        guard.model.predict(np.zeros((0, T, F)))
    with pytest.raises(ValueError, match=r"`x` has no samples"):
        guard.model.fit(np.zeros((0, T, F)), np.zeros((0, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"`x` has no samples"):
        guard.model.evaluate(np.zeros((0, T, F)), np.zeros((0, 1)), verbose=0)


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bs", [0, -3, 2.5, True, "8"])
def test_bad_batch_size(guard, bs):
    msg = rf"`batch_size` must be a positive integer; received batch_size={bs!r}"
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        guard.model.fit(guard.x, Y, batch_size=bs, verbose=0)
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer"):
        guard.model.predict(guard.x, batch_size=bs)
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer"):
        guard.model.evaluate(guard.x, Y, batch_size=bs, verbose=0)


@pytest.mark.parametrize("epochs", [0, -1, 1.5])
def test_bad_epochs(guard, epochs):
    with pytest.raises(ValueError, match=rf"`epochs` must be a positive integer; received "
                                         rf"epochs={epochs!r}"):
        guard.model.fit(guard.x, Y, epochs=epochs, verbose=0)


def test_bad_verbose_initial_epoch_and_seed(guard):
    with pytest.raises(ValueError, match=r"`verbose` must be 0, 1, 2 or 'auto'; received verbose=3"):
        guard.model.fit(guard.x, Y, verbose=3)
    with pytest.raises(ValueError, match=r"`verbose` must be 0, 1, 2 or 'auto'"):
        guard.model.predict(guard.x, verbose=5)
    with pytest.raises(ValueError, match=r"`initial_epoch` must be a non-negative integer"):
        guard.model.fit(guard.x, Y, initial_epoch=-1, verbose=0)
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative integer; received seed=-2"):
        guard.model.fit(guard.x, Y, seed=-2, verbose=0)


def test_unknown_keyword_arguments(guard):
    with pytest.raises(TypeError, match=r"`fit` got unexpected keyword argument\(s\): epoch"):
        guard.model.fit(guard.x, Y, epoch=3, verbose=0)
    with pytest.raises(TypeError, match=r"`predict` got unexpected keyword argument\(s\): bs"):
        guard.model.predict(guard.x, bs=3)
    with pytest.raises(TypeError, match=r"`evaluate` got unexpected keyword argument\(s\): foo"):
        guard.model.evaluate(guard.x, Y, foo=1)
    with pytest.raises(TypeError, match=r"`compile` got unexpected keyword argument\(s\): lr"):
        guard.model.compile(optimizer="sgd", loss="mse", lr=0.1)
    with pytest.raises(TypeError, match=r"`LSTM` got unexpected keyword argument\(s\): unit"):
        LSTM(3, unit=3)
    with pytest.raises(TypeError, match=r"`Dense` got unexpected keyword argument\(s\): activaton"):
        Dense(3, activaton="relu")


@pytest.mark.parametrize("units", [0, -2, 2.5, None])
def test_bad_units(units):
    with pytest.raises(ValueError, match=rf"`LSTM` expects `units` to be a positive integer; "
                                         rf"received units={units!r}"):
        LSTM(units)
    with pytest.raises(ValueError, match=rf"`Dense` expects `units` to be a positive integer; "
                                         rf"received units={units!r}"):
        Dense(units)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match=r"`LSTM` expects `dropout` in \[0, 1\); received dropout=1.5"):
        LSTM(2, dropout=1.5)
    with pytest.raises(ValueError, match=r"`Dropout` expects `rate` in \[0, 1\); received rate=-0.1"):
        Dropout(-0.1)
    with pytest.raises(ValueError, match=r"cannot use activation='softmax'"):
        LSTM(2, activation="softmax")
    with pytest.raises(ValueError, match=r"`merge_mode` must be one of 'concat', 'sum', 'mul', "
                                         r"'ave'; received merge_mode='max'"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match=r"`Bidirectional` wraps an `LSTM`"):
        Bidirectional(Dense(2))
    with pytest.raises(ValueError, match=r"`TimeDistributed` supports a `Dense` layer"):
        TimeDistributed(LSTM(2))
    with pytest.raises(ValueError, match=r"`input_shape` entries must be positive integers"):
        LSTM(2, input_shape=(5, 0))
    with pytest.raises(ValueError, match=r"`batch_input_shape` must include the batch size"):
        LSTM(2, batch_input_shape=(5,))


def test_bad_model_structure():
    with pytest.raises(ValueError, match=r"`RepeatVector` expects 2D input.*return_sequences=True"):
        Sequential([LSTM(2, input_shape=(T, F), return_sequences=True), RepeatVector(3)])
    with pytest.raises(ValueError, match=r"`LSTM` expects 3D input"):
        Sequential([LSTM(2, input_shape=(T, F)), LSTM(2)])
    # a later layer's input shape is ignored as Keras does (tests/test_keras2_spellings.py)
    with pytest.warns(UserWarning, match=r"not the first layer of the model: its input shape"):
        Sequential([LSTM(2, input_shape=(T, F)), Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match=r"return_state=True.*cannot be used inside Sequential"):
        Sequential([LSTM(2, input_shape=(T, F), return_state=True)])
    with pytest.raises(ValueError, match=r"`Sequential.add` expects an lstmcore layer"):
        Sequential().add("LSTM")
    layer = Dense(1)
    m = Sequential([LSTM(2, input_shape=(T, F)), layer])
    with pytest.raises(ValueError, match=r"already in this model"):
        m.add(layer)
    # a failed add leaves the model as it was
    assert len(m.layers) == 2
    with pytest.raises(ValueError, match=r"`LSTM` expects 3D input"):
        m.add(LSTM(2))
    assert len(m.layers) == 2 and m.predict(_rand((2, T, F))).shape == (2, 1)
    with pytest.raises(ValueError, match=r"this model has no layers"):
        Sequential().predict(np.zeros((1, T, F)))


# ---------------------------------------------------------------------------------------------
# Names: optimizers, losses, metrics, activations
# ---------------------------------------------------------------------------------------------
def test_unknown_optimizer_lists_valid_names(guard):
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'; expected 'sgd', 'adam', "
                                         r"'rmsprop' or an instance"):
        guard.model.compile(optimizer="adamw", loss="mse")


def test_unknown_loss_lists_valid_names(guard):
    with pytest.raises(ValueError, match=r"unknown loss 'crossentropy'; expected one of ") as e:
        guard.model.compile(optimizer="adam", loss="crossentropy")
    for name in ("'mse'", "'mean_squared_error'", "'mae'", "'mean_absolute_error'",
                 "'binary_crossentropy'", "'categorical_crossentropy'",
                 "'sparse_categorical_crossentropy'"):
        assert name in str(e.value)
    with pytest.raises(ValueError, match=r"`compile` needs a loss, e.g. loss='mse'"):
        guard.model.compile(optimizer="adam")


def test_unknown_metric_lists_valid_names(guard):
    with pytest.raises(ValueError, match=r"unknown metric 'f1'; expected one of 'accuracy', 'acc'"
                                         r".*'mae'"):
        guard.model.compile(optimizer="adam", loss="mse", metrics=["f1"])


def test_failed_compile_keeps_the_previous_settings(guard):
    with pytest.raises(ValueError):
        guard.model.compile(optimizer="sgd", loss="bogus")
    with pytest.raises(ValueError):
        guard.model.compile(optimizer="sgd", loss="mae", metrics=["bogus"])
    assert guard.model.loss == "mean_squared_error"
    assert type(guard.model.optimizer).__name__ == "Adam"
    assert guard.model.metrics_names == ["loss"]


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; expected one of 'linear', "
                                         r"'sigmoid', 'hard_sigmoid'.*'softmax' \(or None\)"):
        Dense(2, activation="swish")
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'"):
        LSTM(2, recurrent_activation="gelu")


def test_sgd_lr_alias_equals_learning_rate():
    x, y = _rand((N, T, F), 1), _rand((N, 1), 2)
    results = []
    for opt in (SGD(lr=0.1), SGD(learning_rate=0.1)):
        assert opt.learning_rate == opt.lr == 0.1
        m = Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
        m.set_weights([np.full(w.shape, 0.1) for w in m.get_weights()])
        m.compile(optimizer=opt, loss="mse")
        m.fit(x, y, epochs=2, shuffle=False, verbose=0)
        results.append(m.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert Adam(lr=0.02).learning_rate == RMSprop(lr=0.02).learning_rate == 0.02


def test_unknown_optimizer_keyword_is_a_type_error():
    with pytest.raises(TypeError, match=r"`SGD` got unexpected keyword argument\(s\): moment"):
        SGD(moment=0.9)
    with pytest.raises(TypeError, match=r"`Adam` got unexpected keyword argument\(s\): beta1"):
        Adam(beta1=0.9)
    with pytest.raises(ValueError, match=r"`SGD` expects `learning_rate`.*received learning_rate=-1"):
        SGD(learning_rate=-1)
    with pytest.raises(ValueError, match=r"`SGD` expects `momentum` .*received momentum=-0.5"):
        SGD(momentum=-0.5)
    with pytest.raises(ValueError, match=r"`Adam` expects `beta_1` in \[0.0, 1.0\); received beta_1=1.0"):
        Adam(beta_1=1.0)


# ---------------------------------------------------------------------------------------------
# Lifecycle order
# ---------------------------------------------------------------------------------------------
def test_fit_and_evaluate_before_compile_say_to_call_compile():
    model = Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
    x = _rand((N, T, F))
    p = model.predict(x)  # predict before compile works
    assert p.shape == (N, 1)
    for call in (lambda: model.fit(x, Y, verbose=0), lambda: model.evaluate(x, Y, verbose=0),
                 lambda: model.train_on_batch(x, Y), lambda: model.test_on_batch(x, Y)):
        with pytest.raises(RuntimeError, match=r"you must call `compile\(\)` before "
                                               r"`(fit|evaluate|train_on_batch|test_on_batch)"
                                               r"\(\)`: e\.g\. model\.compile\("):
            call()
    np.testing.assert_array_equal(model.predict(x), p)


# ---------------------------------------------------------------------------------------------
# set_weights
# ---------------------------------------------------------------------------------------------
def test_set_weights_with_the_wrong_count(guard):
    w = guard.model.get_weights()
    with pytest.raises(ValueError, match=r"the model expects 5 weight arrays \[\(2, 12\), \(3, 12\), "
                                         r"\(12,\), \(3, 1\), \(1,\)\]; received 4"):
        guard.model.set_weights(w[:4])
    with pytest.raises(ValueError, match=r"layer `.*` expects 3 weight arrays.*received 2"):
        guard.model.layers[0].set_weights(w[:2])


def test_set_weights_with_a_wrong_shape_names_the_array(guard):
    w = guard.model.get_weights()
    bad = [a + 1 for a in w]  # would change everything if applied
    bad[1] = np.zeros((12, 3))  # recurrent kernel transposed
    with pytest.raises(ValueError, match=r"weight 1 \(layer `.*`, recurrent_kernel\) must have "
                                         r"shape \(3, 12\); received shape \(12, 3\)"):
        guard.model.set_weights(bad)
    bad = [a + 1 for a in w]
    bad[4] = np.zeros((2,))
    with pytest.raises(ValueError, match=r"weight 4 \(layer `.*`, bias\) must have shape \(1,\); "
                                         r"received shape \(2,\)"):
        guard.model.set_weights(bad)
    bad = [a + 1 for a in w]
    bad[0] = np.full((2, 12), np.nan)
    with pytest.raises(ValueError, match=r"weight 0 \(layer `.*`\) contains NaN or Inf"):
        guard.model.set_weights(bad)
    with pytest.raises(ValueError, match=r"weight 0 \(kernel\) must have shape \(3, 1\)"):
        guard.model.layers[1].set_weights([np.zeros((1, 3)), np.zeros(1)])


def test_learning_rate_zero_message_states_the_open_bound():
    # 0 is rejected, so the message must not claim that ">= 0.0" is accepted
    with pytest.raises(ValueError, match=r"`SGD` expects `learning_rate` > 0(\.0)?; received "
                                         r"learning_rate=0") as e:
        SGD(learning_rate=0)
    assert ">=" not in str(e.value)


def test_unsupported_fit_arguments_say_so(guard):
    with pytest.raises(NotImplementedError, match=r"`fit\(steps_per_epoch=\.\.\.\)` is not supported"):
        guard.model.fit(guard.x, Y, steps_per_epoch=3, verbose=0)
    with pytest.raises(NotImplementedError, match=r"`evaluate\(steps=\.\.\.\)`"):
        guard.model.evaluate(guard.x, Y, steps=2, verbose=0)
    # the Keras defaults (None) are accepted
    guard.model.evaluate(guard.x, Y, sample_weight=None, verbose=0)


def test_bad_sample_and_class_weights_are_refused(guard):
    for kwargs, match in [({"sample_weight": np.ones(N + 1)}, r"one weight per sample, shape"),
                          ({"sample_weight": -np.ones(N)}, "non-negative"),
                          ({"sample_weight": np.full(N, np.nan)}, "contains nan"),
                          ({"class_weight": [1.0, 2.0]}, "must be a dict"),
                          ({"class_weight": {0: -1.0}}, "non-negative"),
                          ({"class_weight": {"a": 1.0}}, "integer classes")]:
        with pytest.raises(ValueError, match=match):
            guard.model.fit(guard.x, Y, verbose=0, **kwargs)


def test_bidirectional_does_not_silently_ignore_go_backwards():
    """Keras 3 rejects Bidirectional(LSTM(go_backwards=True)) with a ValueError; Keras 2 ran the
    wrapped layer backwards and its copy forwards. Either is acceptable; computing exactly what
    go_backwards=False computes while the layer reports go_backwards=True is not."""
    try:
        a = Sequential([Bidirectional(LSTM(3, go_backwards=True), input_shape=(T, F))])
    except ValueError as e:
        assert "go_backwards" in str(e)
        return
    b = Sequential([Bidirectional(LSTM(3), input_shape=(T, F))])
    b.set_weights(a.get_weights())
    x = _rand((4, T, F), 1)
    assert not np.array_equal(a.predict(x), b.predict(x))
