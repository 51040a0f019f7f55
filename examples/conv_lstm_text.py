"""Conv1D + LSTM: a sequence classifier in the style of Keras 2's ``imdb_cnn_lstm.py``.

Synthetic "reviews" of 60 tokens (vocabulary 100): the label is 1 when the phrase
``7 8 9`` (three tokens in a row) occurs, which a convolution with kernel 3 spots locally and
the LSTM then only has to remember. Half the reviews contain it.

Model: Embedding(100, 32) -> Dropout(0.25) -> Conv1D(32, 3, relu) -> MaxPooling1D(2) ->
LSTM(32) -> Dense(1, sigmoid), binary cross-entropy, Adam.

Run:   PYTHONPATH=python python examples/conv_lstm_text.py
Result: reaches >= 0.95 test accuracy on 1,000 fresh reviews (about 0.99 in practice) in a
few seconds on 2 cores; chance is 0.5.
"""

from __future__ import annotations

import time

import lstmcore
import numpy as np
from lstmcore.layers import LSTM, Conv1D, Dense, Dropout, Embedding, MaxPooling1D
from lstmcore.models import Sequential

VOCAB, LENGTH = 100, 60
TARGET_ACCURACY = 0.95


def make_reviews(n: int, rng: np.random.Generator):
    x = rng.integers(1, VOCAB, size=(n, LENGTH))
    # no accidental phrase: replace every 8 that follows a 7
    x[:, 1:][(x[:, :-1] == 7) & (x[:, 1:] == 8)] = 50
    y = (rng.random(n) < 0.5).astype(np.float32)
    for i in np.flatnonzero(y):
        at = int(rng.integers(0, LENGTH - 3))
        x[i, at:at + 3] = (7, 8, 9)
    return x, y.reshape(-1, 1)


def build_model() -> Sequential:
    model = Sequential([
        Embedding(VOCAB, 32, input_length=LENGTH),
        Dropout(0.25),
        Conv1D(32, 3, padding="valid", activation="relu", strides=1),
        MaxPooling1D(pool_size=2),
        LSTM(32),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def main(scale: float = 1.0) -> dict:
    """Train and test; ``scale`` shrinks the data and the epochs. Returns the scores."""
    t0 = time.perf_counter()
    lstmcore.set_seed(11)
    rng = np.random.default_rng(11)
    x_train, y_train = make_reviews(max(400, int(5000 * scale)), rng)
    x_test, y_test = make_reviews(1000 if scale >= 1 else 300, rng)
    model = build_model()
    model.fit(x_train, y_train, batch_size=32, epochs=max(3, int(10 * scale)),
              validation_split=0.1, verbose=2 if scale >= 1 else 0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}, accuracy {accuracy:.4f} (target >= {TARGET_ACCURACY}) in "
          f"{time.perf_counter() - t0:.1f} s")
    return {"accuracy": float(accuracy), "loss": float(loss)}


if __name__ == "__main__":
    main()
