"""Published Keras 2 scripts, with only their imports changed from ``keras`` to ``lstmcore``,
run end to end (issue #12's check). The dataset downloads (``keras.datasets``, ``get_file``)
are out of scope: each script's data is made locally, in the script's own shapes and dtypes,
and sizes/epochs are reduced so the check runs in seconds; the model, compile, fit, evaluate
and predict code is the script's.

Sources (the kinds the issue names):
- Keras 2.3 examples: ``imdb_lstm.py``, ``imdb_cnn_lstm.py``, ``imdb_bidirectional_lstm.py``,
  ``lstm_stateful.py``;
- *Deep Learning for Time Series Forecasting* (Brownlee): vanilla, stacked, bidirectional,
  CNN-LSTM and encoder-decoder LSTM models for univariate series;
- *Deep Learning with Python* (Chollet), chapter 6: Embedding + SimpleRNN on IMDB, GRU with
  dropout on the Jena temperatures (with arrays instead of its generators), and the 1D convnet
  (Conv1D / MaxPooling1D / GlobalMaxPooling1D) on IMDB.
Not run here (later issues): ``lstm_seq2seq.py`` (functional API), the generator-fed Jena
scripts as written (``fit_generator``), ConvLSTM2D models.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

# ---- the data each script downloads, made locally -------------------------------------------
IMDB_DATA = '''
import numpy as np
_rng = np.random.RandomState(0)
def _reviews(n):
    xs = [list(_rng.randint(1, max_features, size=_rng.randint(5, 120))) for _ in range(n)]
    ys = np.array([int(sum(w < max_features // 4 for w in s) * 4 > len(s)) for s in xs])
    return xs, ys
(x_train, y_train), (x_test, y_test) = _reviews(96), _reviews(64)
'''

SERIES_DATA = '''
raw_seq = [10, 20, 30, 40, 50, 60, 70, 80, 90]
'''

SCRIPTS = {
    # Keras 2.3 examples/imdb_lstm.py
    "imdb_lstm": IMDB_DATA.replace("max_features", "20000") + '''
from lstmcore.preprocessing import sequence
from lstmcore.models import Sequential
from lstmcore.layers import Dense, Embedding
from lstmcore.layers import LSTM

max_features = 20000
maxlen = 80
batch_size = 32
x_train = sequence.pad_sequences(x_train, maxlen=maxlen)
x_test = sequence.pad_sequences(x_test, maxlen=maxlen)
model = Sequential()
model.add(Embedding(max_features, 128))
model.add(LSTM(128, dropout=0.2, recurrent_dropout=0.2))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
model.fit(x_train, y_train, batch_size=batch_size, epochs=2, validation_data=(x_test, y_test),
          verbose=0)
score, acc = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
''',
    # Keras 2.3 examples/imdb_cnn_lstm.py
    "imdb_cnn_lstm": IMDB_DATA.replace("max_features", "20000") + '''
from lstmcore.preprocessing import sequence
from lstmcore.models import Sequential
from lstmcore.layers import Dense, Dropout, Activation
from lstmcore.layers import Embedding
from lstmcore.layers import LSTM
from lstmcore.layers import Conv1D, MaxPooling1D

max_features = 20000
maxlen = 100
embedding_size = 128
kernel_size = 5
filters = 64
pool_size = 4
lstm_output_size = 70
batch_size = 30
epochs = 2
x_train = sequence.pad_sequences(x_train, maxlen=maxlen)
x_test = sequence.pad_sequences(x_test, maxlen=maxlen)
model = Sequential()
model.add(Embedding(max_features, embedding_size, input_length=maxlen))
model.add(Dropout(0.25))
model.add(Conv1D(filters, kernel_size, padding='valid', activation='relu', strides=1))
model.add(MaxPooling1D(pool_size=pool_size))
model.add(LSTM(lstm_output_size))
model.add(Dense(1))
model.add(Activation('sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
          validation_data=(x_test, y_test), verbose=0)
score, acc = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
''',
    # Keras 2.3 examples/imdb_bidirectional_lstm.py
    "imdb_bidirectional_lstm": IMDB_DATA.replace("max_features", "20000") + '''
from lstmcore.preprocessing import sequence
from lstmcore.models import Sequential
from lstmcore.layers import Dense, Dropout, Embedding, LSTM, Bidirectional

max_features = 20000
maxlen = 100
batch_size = 32
x_train = sequence.pad_sequences(x_train, maxlen=maxlen)
x_test = sequence.pad_sequences(x_test, maxlen=maxlen)
y_train = np.array(y_train)
y_test = np.array(y_test)
model = Sequential()
model.add(Embedding(max_features, 128, input_length=maxlen))
model.add(Bidirectional(LSTM(64)))
model.add(Dropout(0.5))
model.add(Dense(1, activation='sigmoid'))
model.compile('adam', 'binary_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, batch_size=batch_size, epochs=2,
          validation_data=[x_test, y_test], verbose=0)
''',
    # Keras 2.3 examples/lstm_stateful.py (its stateful model; the moving-average data)
    "lstm_stateful": '''
import numpy as np
from lstmcore.models import Sequential
from lstmcore.layers import Dense, LSTM

input_len = 800
tsteps = 2
lahead = 1
batch_size = 1
epochs = 2
def gen_uniform_amp(amp=1, xn=10000):
    data_input = np.random.uniform(-1 * amp, +1 * amp, xn)
    return data_input.reshape(-1, 1)
data_input = gen_uniform_amp(amp=0.1, xn=input_len + tsteps - 1)
expected_output = np.convolve(data_input[:, 0], np.ones(tsteps) / tsteps, mode='valid')
x_train = data_input[tsteps - 1:].reshape(input_len, lahead, 1)
y_train = expected_output.reshape(input_len, 1)
model = Sequential()
model.add(LSTM(20, input_shape=(lahead, 1), batch_size=batch_size, stateful=True))
model.add(Dense(1))
model.compile(loss='mse', optimizer='adam')
for i in range(epochs):
    model.fit(x_train, y_train, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    model.reset_states()
predicted = model.predict(x_train[:100], batch_size=batch_size)
''',
    # Brownlee, vanilla LSTM (univariate)
    "ts_vanilla_lstm": SERIES_DATA + '''
from numpy import array
from lstmcore.models import Sequential
from lstmcore.layers import LSTM
from lstmcore.layers import Dense

def split_sequence(sequence, n_steps):
    X, y = list(), list()
    for i in range(len(sequence)):
        end_ix = i + n_steps
        if end_ix > len(sequence)-1:
            break
        seq_x, seq_y = sequence[i:end_ix], sequence[end_ix]
        X.append(seq_x)
        y.append(seq_y)
    return array(X), array(y)

n_steps = 3
X, y = split_sequence(raw_seq, n_steps)
n_features = 1
X = X.reshape((X.shape[0], X.shape[1], n_features))
model = Sequential()
model.add(LSTM(50, activation='relu', input_shape=(n_steps, n_features)))
model.add(Dense(1))
model.compile(optimizer='adam', loss='mse')
model.fit(X, y, epochs=200, verbose=0)
x_input = array([70, 80, 90])
x_input = x_input.reshape((1, n_steps, n_features))
yhat = model.predict(x_input, verbose=0)
''',
    # Brownlee, stacked and bidirectional LSTM
    "ts_stacked_bidirectional": SERIES_DATA + '''
from numpy import array
from lstmcore.models import Sequential
from lstmcore.layers import LSTM, Dense, Bidirectional

X = array([raw_seq[i:i + 3] for i in range(6)]).reshape((6, 3, 1))
y = array(raw_seq[3:])
model = Sequential()
model.add(LSTM(50, activation='relu', return_sequences=True, input_shape=(3, 1)))
model.add(LSTM(50, activation='relu'))
model.add(Dense(1))
model.compile(optimizer='adam', loss='mse')
model.fit(X, y, epochs=200, verbose=0)
model2 = Sequential()
model2.add(Bidirectional(LSTM(50, activation='relu'), input_shape=(3, 1)))
model2.add(Dense(1))
model2.compile(optimizer='adam', loss='mse')
model2.fit(X, y, epochs=200, verbose=0)
yhat = model2.predict(array([70, 80, 90]).reshape((1, 3, 1)), verbose=0)
''',
    # Brownlee, CNN-LSTM (TimeDistributed over subsequences)
    "ts_cnn_lstm": SERIES_DATA + '''
from numpy import array
from lstmcore.models import Sequential
from lstmcore.layers import LSTM
from lstmcore.layers import Dense
from lstmcore.layers import Flatten
from lstmcore.layers import TimeDistributed
from lstmcore.layers.convolutional import Conv1D
from lstmcore.layers.convolutional import MaxPooling1D

raw_seq = [10, 20, 30, 40, 50, 60, 70, 80, 90]
n_steps = 4
X = array([raw_seq[i:i + n_steps] for i in range(len(raw_seq) - n_steps)])
y = array(raw_seq[n_steps:])
n_features = 1
n_seq = 2
n_steps = 2
X = X.reshape((X.shape[0], n_seq, n_steps, n_features))
model = Sequential()
model.add(TimeDistributed(Conv1D(filters=64, kernel_size=1, activation='relu'), input_shape=(None, n_steps, n_features)))
model.add(TimeDistributed(MaxPooling1D(pool_size=2)))
model.add(TimeDistributed(Flatten()))
model.add(LSTM(50, activation='relu'))
model.add(Dense(1))
model.compile(optimizer='adam', loss='mse')
model.fit(X, y, epochs=500, verbose=0)
x_input = array([60, 70, 80, 90])
x_input = x_input.reshape((1, n_seq, n_steps, n_features))
yhat = model.predict(x_input, verbose=0)
''',
    # Brownlee, encoder-decoder LSTM (multi-step output)
    "ts_encoder_decoder": SERIES_DATA + '''
from numpy import array
from lstmcore.models import Sequential
from lstmcore.layers import LSTM
from lstmcore.layers import Dense
from lstmcore.layers import RepeatVector
from lstmcore.layers import TimeDistributed

n_steps_in, n_steps_out = 3, 2
X = array([raw_seq[i:i + 3] for i in range(5)])
y = array([raw_seq[i + 3:i + 5] for i in range(5)])
n_features = 1
X = X.reshape((X.shape[0], X.shape[1], n_features))
y = y.reshape((y.shape[0], y.shape[1], n_features))
model = Sequential()
model.add(LSTM(100, activation='relu', input_shape=(n_steps_in, n_features)))
model.add(RepeatVector(n_steps_out))
model.add(LSTM(100, activation='relu', return_sequences=True))
model.add(TimeDistributed(Dense(1)))
model.compile(optimizer='adam', loss='mse')
model.fit(X, y, epochs=100, verbose=0)
yhat = model.predict(array([70, 80, 90]).reshape((1, n_steps_in, n_features)), verbose=0)
''',
    # Chollet 6.2: Embedding + SimpleRNN on IMDB
    "dlwp_simple_rnn": IMDB_DATA.replace("max_features", "10000") + '''
from lstmcore.preprocessing import sequence
from lstmcore.layers import Dense, Embedding, SimpleRNN
from lstmcore.models import Sequential

max_features = 10000
maxlen = 500
batch_size = 32
input_train = sequence.pad_sequences(x_train, maxlen=maxlen)
input_test = sequence.pad_sequences(x_test, maxlen=maxlen)
model = Sequential()
model.add(Embedding(max_features, 32))
model.add(SimpleRNN(32))
model.add(Dense(1, activation='sigmoid'))
model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['acc'])
history = model.fit(input_train, y_train, epochs=2, batch_size=128, validation_split=0.2,
                    verbose=0)
acc = history.history['acc']
val_acc = history.history['val_acc']
''',
    # Chollet 6.3: GRU with dropout on the Jena temperatures (arrays for its generators)
    "dlwp_gru_dropout": '''
import numpy as np
from lstmcore.models import Sequential
from lstmcore import layers
from lstmcore.optimizers import RMSprop

float_data = np.random.RandomState(1).normal(size=(600, 14)).astype('float32')
lookback, step = 60, 6
samples = np.stack([float_data[i:i + lookback:step] for i in range(0, 480, 4)])
targets = float_data[lookback:lookback + 480:4, 1]
model = Sequential()
model.add(layers.GRU(32, dropout=0.2, recurrent_dropout=0.2,
                     input_shape=(None, float_data.shape[-1])))
model.add(layers.Dense(1))
model.compile(optimizer=RMSprop(), loss='mae')
history = model.fit(samples, targets, epochs=2, batch_size=32, validation_split=0.2, verbose=0)
''',
    # Chollet 6.4: 1D convnet on IMDB
    "dlwp_conv1d": IMDB_DATA.replace("max_features", "10000") + '''
from lstmcore.preprocessing import sequence
from lstmcore.models import Sequential
from lstmcore import layers
from lstmcore.optimizers import RMSprop

max_features = 10000
max_len = 500
x_train = sequence.pad_sequences(x_train, maxlen=max_len)
x_test = sequence.pad_sequences(x_test, maxlen=max_len)
model = Sequential()
model.add(layers.Embedding(max_features, 128, input_length=max_len))
model.add(layers.Conv1D(32, 7, activation='relu'))
model.add(layers.MaxPooling1D(5))
model.add(layers.Conv1D(32, 7, activation='relu'))
model.add(layers.GlobalMaxPooling1D())
model.add(layers.Dense(1))
model.compile(optimizer=RMSprop(lr=1e-4), loss='binary_crossentropy', metrics=['acc'])
history = model.fit(x_train, y_train, epochs=2, batch_size=128, validation_split=0.2,
                    verbose=0)
''',
}

CHECKS = {  # name -> (variable, expected shape) the script ends with
    "imdb_lstm": ("acc", ()),
    "imdb_cnn_lstm": ("acc", ()),
    "imdb_bidirectional_lstm": ("model", None),
    "lstm_stateful": ("predicted", (100, 1)),
    "ts_vanilla_lstm": ("yhat", (1, 1)),
    "ts_stacked_bidirectional": ("yhat", (1, 1)),
    "ts_cnn_lstm": ("yhat", (1, 1)),
    "ts_encoder_decoder": ("yhat", (1, 2, 1)),
    "dlwp_simple_rnn": ("val_acc", (2,)),
    "dlwp_gru_dropout": ("history", None),
    "dlwp_conv1d": ("history", None),
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_published_script_runs_with_only_its_imports_changed(name):
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. Keras 2 spellings being ignored
        exec(compile(SCRIPTS[name], f"<{name}>", "exec"), namespace)  # noqa: S102
    var, shape = CHECKS[name]
    value = namespace[var]
    if shape is not None:
        arr = np.asarray(value, dtype=np.float64)
        assert arr.shape == shape and np.isfinite(arr).all(), (name, arr)
