"""Text classifier: Embedding(mask_zero=True) -> LSTM on padded token sequences.

Synthetic "reviews": sequences of 5 to 40 tokens from a vocabulary of 60 words, where words
1-10 are positive, 11-20 negative and the rest neutral; the label is 1 when a review has more
positive than negative words. Reviews are padded with 0 to one length by
``pad_sequences`` (as a Keras script does), and ``mask_zero=True`` makes the LSTM skip the
padding: the prediction for a review does not depend on how much padding it got.

Model: Embedding(60, 16, mask_zero=True) -> LSTM(32) -> Dense(1, sigmoid), binary
cross-entropy, Adam.

Run:   PYTHONPATH=python python examples/text_classifier.py
Result: reaches >= 0.90 test accuracy on 1,000 fresh reviews (about 0.95 in practice) in a
few seconds on 2 cores; the majority class scores about 0.5. The same review padded to 40
or to 80 steps gets the same prediction.
"""

from __future__ import annotations

import time

import lstmcore
import numpy as np
from lstmcore.layers import LSTM, Dense, Embedding
from lstmcore.models import Sequential
from lstmcore.preprocessing.sequence import pad_sequences

VOCAB, MAXLEN = 60, 40
TARGET_ACCURACY = 0.90


def make_reviews(n: int, rng: np.random.Generator):
    """Lists of token ids (ragged) and their 0/1 labels (balanced)."""
    reviews, labels = [], []
    while len(reviews) < n:
        length = int(rng.integers(5, MAXLEN + 1))
        words = rng.integers(1, VOCAB, size=length)
        pos = int(((words >= 1) & (words <= 10)).sum())
        neg = int(((words >= 11) & (words <= 20)).sum())
        if pos == neg:
            continue
        label = int(pos > neg)
        if labels.count(label) >= (n + 1) // 2:
            continue
        reviews.append(words.tolist())
        labels.append(label)
    return reviews, np.array(labels, dtype=np.float32).reshape(-1, 1)


def build_model() -> Sequential:
    model = Sequential([
        Embedding(VOCAB, 16, mask_zero=True),
        LSTM(32),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(scale: float = 1.0) -> dict:
    """Train and test; ``scale`` shrinks the data and the epochs. Returns the scores."""
    t0 = time.perf_counter()
    lstmcore.set_seed(7)
    rng = np.random.default_rng(7)
    n_train = max(300, int(4000 * scale))
    epochs = max(3, int(15 * scale))
    verbose = 2 if scale >= 1 else 0
    train, y_train = make_reviews(n_train, rng)
    test, y_test = make_reviews(1000 if scale >= 1 else 300, rng)
    x_train = pad_sequences(train, maxlen=MAXLEN)  # 'pre' padding, as Keras
    x_test = pad_sequences(test, maxlen=MAXLEN)

    model = build_model()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1,
              verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    # the mask at work: more padding, the same prediction
    p40 = model.predict(x_test[:20], verbose=0)
    p80 = model.predict(pad_sequences(test[:20], maxlen=2 * MAXLEN), verbose=0)
    padding_effect = float(np.abs(p40 - p80).max())
    print(f"test loss {loss:.4f}, accuracy {accuracy:.4f} (target >= {TARGET_ACCURACY}); "
          f"largest change from padding 40 -> 80 steps: {padding_effect:.2e}; "
          f"{time.perf_counter() - t0:.1f} s")
    return {"accuracy": float(accuracy), "loss": float(loss), "padding_effect": padding_effect}


if __name__ == "__main__":
    main()
