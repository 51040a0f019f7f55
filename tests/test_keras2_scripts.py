"""Published Keras 2 LSTM scripts, their imports changed from keras to lstmcore and nothing
else (the data made locally instead of downloaded), run end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

STATEFUL_SCRIPT = '''
import numpy
from lstmcore.models import Sequential
from lstmcore.layers import Dense
from lstmcore.layers import LSTM

def create_dataset(dataset, look_back=1):
    dataX, dataY = [], []
    for i in range(len(dataset)-look_back-1):
        a = dataset[i:(i+look_back), 0]
        dataX.append(a)
        dataY.append(dataset[i + look_back, 0])
    return numpy.array(dataX), numpy.array(dataY)

numpy.random.seed(7)
dataset = (numpy.sin(numpy.arange(80) / 5.0) * 0.4 + 0.5).reshape(-1, 1).astype('float32')
train_size = int(len(dataset) * 0.67)
train, test = dataset[0:train_size,:], dataset[train_size:len(dataset),:]
look_back = 3
trainX, trainY = create_dataset(train, look_back)
testX, testY = create_dataset(test, look_back)
trainX = numpy.reshape(trainX, (trainX.shape[0], trainX.shape[1], 1))
testX = numpy.reshape(testX, (testX.shape[0], testX.shape[1], 1))
batch_size = 1
model = Sequential()
model.add(LSTM(4, batch_input_shape=(batch_size, look_back, 1), stateful=True, return_sequences=True))
model.add(LSTM(4, batch_input_shape=(batch_size, look_back, 1), stateful=True))
model.add(Dense(1))
model.compile(loss='mean_squared_error', optimizer='adam')
for i in range(3):
    model.fit(trainX, trainY, epochs=1, batch_size=batch_size, verbose=0, shuffle=False)
    model.reset_states()
trainPredict = model.predict(trainX, batch_size=batch_size)
model.reset_states()
testPredict = model.predict(testX, batch_size=batch_size)
'''

CLASSIFIER_SCRIPT = '''
import numpy
from lstmcore.models import Sequential, load_model
from lstmcore.layers.core import Dense, Activation, Dropout
from lstmcore.layers.recurrent import LSTM
from lstmcore.layers.wrappers import Bidirectional
from lstmcore.preprocessing import sequence
from lstmcore.utils import np_utils
from lstmcore.callbacks import ReduceLROnPlateau, CSVLogger
from lstmcore import metrics

numpy.random.seed(7)
# was: (X_train, y_train), (X_test, y_test) = some_dataset.load_data()
rng = numpy.random.RandomState(0)
X_train = [list(rng.randint(1, 9, size=rng.randint(2, 12))) for _ in range(60)]
y_train = numpy.array([int(sum(s) % 3) for s in X_train])
max_len = 10
X_train = sequence.pad_sequences(X_train, maxlen=max_len, dtype='float32') / 9.0
X_train = X_train.reshape(len(X_train), max_len, 1)
Y_train = np_utils.to_categorical(y_train, 3)
model = Sequential()
model.add(Bidirectional(LSTM(8, return_sequences=False), input_shape=(max_len, 1)))
model.add(Dropout(0.2))
model.add(Dense(3, input_dim=16))
model.add(Activation('softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=[metrics.accuracy])
history = model.fit(X_train, Y_train, epochs=3, batch_size=16, validation_split=0.2, verbose=0,
                    callbacks=[ReduceLROnPlateau(monitor='val_loss', factor=0.5, patience=1),
                               CSVLogger(LOG)])
scores = model.evaluate(X_train, Y_train, verbose=0)
model.save(PATH)
restored = load_model(PATH)
'''


def test_stateful_airline_style_script_runs_and_repeats():
    """Run twice in fresh processes: numpy.random.seed(7) at its top makes the runs equal."""
    script = STATEFUL_SCRIPT + "\nimport json; print(json.dumps(testPredict.tolist()))\n"
    outs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ))
        assert out.returncode == 0, out.stderr
        assert "`lstm_" in out.stderr and "is not the first layer" in out.stderr
        outs.append(np.array(json.loads(out.stdout.strip().splitlines()[-1])))
    assert outs[0].shape == (80 - 53 - 3 - 1, 1) and np.isfinite(outs[0]).all()
    np.testing.assert_array_equal(outs[0], outs[1])


def test_classifier_script_with_keras2_modules_runs(tmp_path):
    namespace = {"PATH": str(tmp_path / "model.h5"), "LOG": str(tmp_path / "log.csv")}
    with pytest.warns(UserWarning) as record:
        exec(CLASSIFIER_SCRIPT, namespace)  # noqa: S102
    messages = [str(w.message) for w in record]
    assert any("`dense" in m and "is not the first layer" in m for m in messages)
    assert any("lstmcore writes its own format" in m for m in messages)
    h = namespace["history"].history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert len(namespace["scores"]) == 2
    x = namespace["X_train"]
    np.testing.assert_array_equal(namespace["restored"].predict(x), namespace["model"].predict(x))
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == \
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss"
