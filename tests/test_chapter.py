"""The LSTM lifecycle chapter of a Keras 2 book, listing by listing, with only the imports
changed (define -> compile -> fit -> evaluate -> predict, then the stateful variant).

Each test runs the book's code as written (epochs cut down where the book uses hundreds on
large data) and asserts the shapes and values the book documents.
"""

import numpy as np
import pytest
from lstmcore.layers import LSTM, Activation, Dense
from lstmcore.models import Sequential
from lstmcore.optimizers import SGD
from numpy import array


def _binary_data(n=40, timesteps=2, seed=0):
    """Sequences of `timesteps` values in [0, 1); class 1 when their sum exceeds timesteps/2."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, timesteps))
    y = (X.sum(axis=1) > timesteps / 2).astype("float64")
    return X, y


# ---------------------------------------------------------------------------------------------
# Define
# ---------------------------------------------------------------------------------------------
def test_define_with_add_and_with_a_list_give_the_same_model():
    model = Sequential()
    model.add(LSTM(2))
    model.add(Dense(1))
    layers = [LSTM(2), Dense(1)]
    model2 = Sequential(layers)
    assert [type(l).__name__ for l in model.layers] == ["LSTM", "Dense"]
    assert [type(l).__name__ for l in model2.layers] == ["LSTM", "Dense"]
    assert model2.layers[0] is layers[0] and model2.layers[1] is layers[1]
    # neither knows its input yet; both build from the first data they see
    assert not model.built and not model2.built
    x = np.zeros((3, 4, 1))
    assert model.predict(x).shape == (3, 1)
    assert model2.predict(x).shape == (3, 1)
    assert model.built and model.count_params() == 4 * 2 * (1 + 2 + 1) + 3


def test_dense_then_sigmoid_activation_outputs_probabilities():
    model = Sequential()
    model.add(LSTM(2, input_shape=(3, 1)))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    x = np.random.default_rng(1).normal(size=(6, 3, 1))
    p = model.predict(x)
    assert p.shape == (6, 1) and p.dtype == np.float32
    assert ((p > 0) & (p < 1)).all()
    # Activation('sigmoid') is the logistic function of the Dense output
    logits = Sequential([LSTM(2, input_shape=(3, 1)), Dense(1)])
    logits.set_weights(model.get_weights())
    z = logits.predict(x).astype(np.float64)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z)), rtol=1e-6, atol=1e-7)


def test_reshape_2d_data_to_3d_both_ways():
    # "data = data.reshape((data.shape[0], data.shape[1], 1))"
    data = np.arange(20, dtype="float64").reshape(10, 2) / 20
    data = data.reshape((data.shape[0], data.shape[1], 1))
    assert data.shape == (10, 2, 1)
    model = Sequential()
    model.add(LSTM(5, input_shape=(2, 1)))
    model.add(Dense(1))
    assert model.predict(data).shape == (10, 1)
    # "data = data.reshape(1, 10, 1)": one sample of ten timesteps
    seq = array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    seq = seq.reshape(1, 10, 1)
    assert seq.shape == (1, 10, 1)
    m2 = Sequential([LSTM(5, input_shape=(10, 1)), Dense(1)])
    assert m2.predict(seq).shape == (1, 1)


def test_single_feature_example_shape():
    data = array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    data = data.reshape((1, 10, 1))
    model = Sequential()
    model.add(LSTM(32, input_shape=(10, 1)))
    model.add(Dense(1))
    out = model.predict(data)
    assert out.shape == (1, 1)
    assert np.isfinite(out).all()
    assert model.layers[0].input_shape == (None, 10, 1)
    assert model.input_shape == (None, 10, 1) and model.output_shape == (None, 1)


def test_two_feature_example_shape():
    data = array([
        [0.1, 1.0],
        [0.2, 0.9],
        [0.3, 0.8],
        [0.4, 0.7],
        [0.5, 0.6],
        [0.6, 0.5],
        [0.7, 0.4],
        [0.8, 0.3],
        [0.9, 0.2],
        [1.0, 0.1]])
    data = data.reshape(1, 10, 2)
    assert data.shape == (1, 10, 2)
    model = Sequential()
    model.add(LSTM(32, input_shape=(10, 2)))
    model.add(Dense(1))
    assert model.predict(data).shape == (1, 1)
    assert model.layers[0].get_weights()[0].shape == (2, 4 * 32)


# ---------------------------------------------------------------------------------------------
# Compile
# ---------------------------------------------------------------------------------------------
def test_compile_with_a_string_optimizer():
    model = Sequential([LSTM(5, input_shape=(2, 1)), Dense(1)])
    model.compile(optimizer='sgd', loss='mse')
    assert type(model.optimizer).__name__ == "SGD"
    assert model.optimizer.learning_rate == pytest.approx(0.01)  # Keras' SGD default
    assert model.metrics_names == ["loss"]


def test_compile_with_an_sgd_object_lr_and_momentum():
    model = Sequential([LSTM(5, input_shape=(2, 1)), Dense(1)])
    algorithm = SGD(lr=0.1, momentum=0.3)
    model.compile(optimizer=algorithm, loss='mse')
    assert model.optimizer is algorithm
    assert algorithm.learning_rate == pytest.approx(0.1)
    assert algorithm.lr == pytest.approx(0.1)
    assert algorithm.momentum == pytest.approx(0.3)


def test_compile_with_accuracy_metric():
    model = Sequential([LSTM(5, input_shape=(2, 1)), Dense(1)])
    model.compile(optimizer='sgd', loss='mean_squared_error', metrics=['accuracy'])
    assert model.metrics_names == ["loss", "accuracy"]


# ---------------------------------------------------------------------------------------------
# Fit, evaluate, predict
# ---------------------------------------------------------------------------------------------
def _book_model(metrics=None):
    model = Sequential()
    model.add(LSTM(5, input_shape=(2, 1)))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    model.compile(optimizer='adam', loss='binary_crossentropy', metrics=metrics)
    return model


def test_fit_batch_size_32_verbose_0_is_silent(capsys):
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model()
    before = [w.copy() for w in model.get_weights()]
    model.fit(X, y, batch_size=32, epochs=100, verbose=0)
    assert capsys.readouterr().out == ""
    after = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))


def test_fit_verbose_prints_one_line_per_epoch(capsys):
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model(metrics=['accuracy'])
    model.fit(X, y, batch_size=10, epochs=3, verbose=2)
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 3 and "Epoch 3/3" in out
    assert out.count(" - loss: ") == 3 and out.count(" - accuracy: ") == 3


def test_fit_verbose_1_prints_a_progress_bar_per_epoch(capsys):
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model(metrics=['accuracy'])
    model.fit(X, y, batch_size=10, epochs=2)  # verbose defaults to 1
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0] == "Epoch 1/2" and "Epoch 2/2" in lines
    bars = [l for l in lines if l.startswith("40/40 [")]
    assert len(bars) == 2  # not a terminal: only the final bar of each epoch
    assert all("[==============================]" in b and " - loss: " in b and " - accuracy: " in b
               for b in bars)


def test_history_records_loss_and_metrics_per_epoch():
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model(metrics=['accuracy'])
    history = model.fit(X, y, batch_size=10, epochs=7, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history['loss']) == 7 and len(history.history['accuracy']) == 7
    assert history.epoch == list(range(7))
    assert all(isinstance(v, float) for v in history.history['loss'])
    assert all(v in {k / 40 for k in range(41)} for v in history.history['accuracy'])
    assert model.history is history


def test_acc_alias_is_the_history_key():
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model(metrics=['acc'])
    history = model.fit(X, y, batch_size=10, epochs=2, verbose=0)
    assert list(history.history) == ['loss', 'acc']
    assert model.metrics_names == ['loss', 'acc']


def test_evaluate_returns_loss_and_accuracy():
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model(metrics=['accuracy'])
    model.fit(X, y, batch_size=10, epochs=2, verbose=0)
    loss, accuracy = model.evaluate(X, y, verbose=0)
    assert isinstance(loss, float) and isinstance(accuracy, float)
    p = model.predict(X).astype(np.float64)
    assert accuracy == pytest.approx(np.mean((p[:, 0] > 0.5) == (y == 1)))
    pc = np.clip(p[:, 0], 1e-7, 1 - 1e-7)
    expected = -np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    assert loss == pytest.approx(expected, rel=1e-5)


def test_evaluate_without_metrics_returns_a_single_float(capsys):
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model()
    loss = model.evaluate(X, y)
    assert isinstance(loss, float) and loss > 0
    out = capsys.readouterr().out
    assert "40/40" in out and "loss:" in out  # evaluate's default verbose=1 prints a bar
    assert model.evaluate(X, y, verbose=0) == loss
    assert capsys.readouterr().out == ""


def test_predict_and_predict_classes():
    X, y = _binary_data()
    X = X.reshape((X.shape[0], X.shape[1], 1))
    model = _book_model()
    model.fit(X, y, batch_size=10, epochs=2, verbose=0)
    predictions = model.predict(X)
    assert predictions.shape == (40, 1) and predictions.dtype == np.float32
    np.testing.assert_array_equal(model.predict(X, verbose=0), predictions)
    classes = model.predict_classes(X)
    assert classes.shape == (40, 1) and classes.dtype == np.int32
    np.testing.assert_array_equal(classes, (predictions > 0.5).astype("int32"))


def test_predict_verbose_0_is_silent(capsys):
    model = _book_model()
    model.predict(np.zeros((4, 2, 1)), verbose=0)
    model.predict(np.zeros((4, 2, 1)))
    assert capsys.readouterr().out == ""


def test_sequence_prediction_example_learns():
    # the chapter's end-to-end example: learn t/10 -> (t+1)/10
    length = 10
    sequence = [i / float(length) for i in range(length)]
    seq = array(sequence)
    X, y = seq[:-1], seq[1:]  # the book builds these pairs with a pandas shift
    X = X.reshape(len(X), 1, 1)
    model = Sequential()
    model.add(LSTM(10, input_shape=(1, 1)))
    model.add(Dense(1))
    model.compile(optimizer='adam', loss='mean_squared_error')
    model.fit(X, y, epochs=1000, batch_size=len(X), verbose=0)
    loss = model.evaluate(X, y, verbose=0)
    assert loss < 1e-3
    yhat = model.predict(X, verbose=0)
    assert yhat.shape == (9, 1)
    np.testing.assert_allclose(yhat[:, 0], y, atol=0.05)


def test_summary_contents(capsys):
    model = Sequential()
    model.add(LSTM(5, input_shape=(2, 1)))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert capsys.readouterr().out == ""  # print_fn replaces print
    lstm_params = 4 * 5 * (1 + 5 + 1)  # 140
    assert lstm_params == 140
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    rows = {l.split()[0]: l for l in lines if "(LSTM)" in l or "(Dense)" in l or "(Activation)" in l}
    assert len(rows) == 3
    lstm_row = next(l for l in lines if "(LSTM)" in l)
    dense_row = next(l for l in lines if "(Dense)" in l)
    act_row = next(l for l in lines if "(Activation)" in l)
    assert "(None, 5)" in lstm_row and lstm_row.split()[-1] == "140"
    assert "(None, 1)" in dense_row and dense_row.split()[-1] == "6"
    assert "(None, 1)" in act_row and act_row.split()[-1] == "0"
    assert "Total params: 146" in text
    assert "Trainable params: 146" in text
    assert "Non-trainable params: 0" in text
    # plain summary() prints the same lines
    model.summary()
    assert capsys.readouterr().out.splitlines() == lines


# ---------------------------------------------------------------------------------------------
# Stateful LSTM
# ---------------------------------------------------------------------------------------------
def _stateful_data():
    rng = np.random.default_rng(3)
    X = rng.random((20, 5, 1))
    y = X[:, -1, :] * 0.5 + X[:, 0, :] * 0.25
    return X, y


def test_stateful_layer_definition():
    model = Sequential()
    model.add(LSTM(2, stateful=True, batch_input_shape=(10, 5, 1)))
    model.add(Dense(1))
    assert model.layers[0].stateful
    assert model.input_shape == (10, 5, 1) and model.output_shape == (10, 1)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(LSTM)" in l and "(10, 2)" in l for l in lines)


def test_stateful_training_loop_with_reset_states():
    X, y = _stateful_data()
    model = Sequential()
    model.add(LSTM(2, stateful=True, batch_input_shape=(10, 5, 1)))
    model.add(Dense(1))
    model.compile(loss='mean_squared_error', optimizer='adam')
    losses = []
    for i in range(20):  # noqa: B007  (the book's loop, as written)
        h = model.fit(X, y, epochs=1, batch_size=10, verbose=0, shuffle=False)
        losses.append(h.history['loss'][0])
        model.reset_states()
    assert len(losses) == 20 and losses[-1] < losses[0]
    # evaluating after a reset is reproducible; predict(batch_size=10) as in the book
    loss1 = model.evaluate(X, y, batch_size=10, verbose=0)
    model.reset_states()
    loss2 = model.evaluate(X, y, batch_size=10, verbose=0)
    assert isinstance(loss1, float) and loss1 == loss2
    model.reset_states()
    predictions = model.predict(X, batch_size=10)
    assert predictions.shape == (20, 1)
    model.reset_states()
    np.testing.assert_array_equal(model.predict(X, batch_size=10), predictions)


def test_fit_does_not_take_batch_input_shape():
    X, y = _stateful_data()
    model = Sequential()
    model.add(LSTM(2, stateful=True, batch_input_shape=(10, 5, 1)))
    model.add(Dense(1))
    model.compile(loss='mse', optimizer='adam')
    before = model.get_weights()
    with pytest.raises(TypeError, match=r"batch_input_shape.*first layer"):
        model.fit(X, y, epochs=1, batch_input_shape=(10, 5, 1))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
