"""Sequence-to-sequence "translation", character by character (Keras' lstm_seq2seq.py design).

The source language: words of 3 to 9 letters from ``abcdefghij``. The target language writes a
word backwards with every letter shifted by one (a Caesar cipher): ``"bead"`` -> ``"ebfc"``.
Target words are wrapped in a start token ``^`` and an end token ``$``.

Model (functional API): an encoder ``LSTM(latent, return_state=True)`` reads the source; its
final states ``[h, c]`` start a decoder ``LSTM(latent, return_sequences=True,
return_state=True)`` that reads the target shifted by one (teacher forcing); a
``Dense(softmax)`` gives the next character. ``Model([encoder_input, decoder_input],
decoder_output)`` trains with categorical cross-entropy and Adam.

Translation needs no teacher: two inference models are built from the *same trained layer
objects* (shared weights, nothing copied) — the encoder ``Model(encoder_input, [h, c])`` and a
one-step decoder ``Model([token, h_in, c_in], [probabilities, h, c])`` — and the decoder is
run greedily, feeding its most likely character back, until ``$`` or 11 steps.

Run:   PYTHONPATH=python python examples/seq2seq_translation.py
Result: reaches an exact-match rate >= 0.9 (the whole greedily decoded word right) on 500
held-out words: 0.996 measured (32 epochs, early stopping; teacher-forced per-character accuracy
0.9996), in 12 s on 2 idle cores.
"""

from __future__ import annotations

import time

import lstmcore
import numpy as np
from lstmcore import Input, Model
from lstmcore.callbacks import EarlyStopping
from lstmcore.layers import LSTM, Dense
from lstmcore.optimizers import Adam

LETTERS = "abcdefghij"
START, END = "^", "$"
SOURCE_CHARS = LETTERS                       # padding: all-zero vectors before the word
TARGET_CHARS = LETTERS + START + END         # padding: more end tokens
MIN_LEN, MAX_LEN = 3, 9
IN_LEN, OUT_LEN = MAX_LEN, MAX_LEN + 2       # + start and end tokens
MAX_DECODE = OUT_LEN
LATENT = 96
TARGET_EXACT = 0.9


def translate_word(word: str) -> str:
    """The reference translation: reversed, each letter the next one (j wraps to a)."""
    return "".join(LETTERS[(LETTERS.index(ch) + 1) % len(LETTERS)] for ch in reversed(word))


def random_words(n: int, rng: np.random.Generator) -> list[str]:
    """`n` different random words, in the order drawn (a dict keeps it; a set would not)."""
    words: dict[str, None] = {}
    while len(words) < n:
        length = int(rng.integers(MIN_LEN, MAX_LEN + 1))
        words["".join(rng.choice(list(LETTERS), length))] = None
    return list(words)


def one_hot(index: int, size: int) -> np.ndarray:
    v = np.zeros(size, dtype=np.float32)
    v[index] = 1.0
    return v


def encode(words: list[str]):
    """(encoder input, decoder input, decoder target): the source one-hot, padded in front (the
    encoder ends on the last letter); the target ``^...$$$`` (padded with end tokens) and the
    same shifted by one step."""
    enc = np.zeros((len(words), IN_LEN, len(SOURCE_CHARS)), dtype=np.float32)
    dec_in = np.zeros((len(words), OUT_LEN, len(TARGET_CHARS)), dtype=np.float32)
    dec_out = np.zeros_like(dec_in)
    for i, word in enumerate(words):
        for t, ch in enumerate(word):
            enc[i, IN_LEN - len(word) + t] = one_hot(SOURCE_CHARS.index(ch), len(SOURCE_CHARS))
        target = (START + translate_word(word) + END).ljust(OUT_LEN + 1, END)
        for t, ch in enumerate(target[:OUT_LEN]):
            dec_in[i, t] = one_hot(TARGET_CHARS.index(ch), len(TARGET_CHARS))
            dec_out[i, t] = one_hot(TARGET_CHARS.index(target[t + 1]), len(TARGET_CHARS))
    return enc, dec_in, dec_out


def build_models():
    """The training model and, from the same layers, the encoder and one-step decoder."""
    encoder_input = Input(shape=(None, len(SOURCE_CHARS)), name="source")
    encoder = LSTM(LATENT, return_state=True, name="encoder")
    _, h, c = encoder(encoder_input)

    decoder_input = Input(shape=(None, len(TARGET_CHARS)), name="target_so_far")
    decoder = LSTM(LATENT, return_sequences=True, return_state=True, name="decoder")
    sequence, _, _ = decoder(decoder_input, initial_state=[h, c])
    readout = Dense(len(TARGET_CHARS), activation="softmax", name="next_char")
    model = Model([encoder_input, decoder_input], readout(sequence), name="seq2seq")
    model.compile(optimizer=Adam(learning_rate=0.005), loss="categorical_crossentropy",
                  metrics=["accuracy"])

    encoder_model = Model(encoder_input, [h, c], name="encoder_model")
    h_in, c_in = Input(shape=(LATENT,), name="h_in"), Input(shape=(LATENT,), name="c_in")
    step, h_out, c_out = decoder(decoder_input, initial_state=[h_in, c_in])
    decoder_model = Model([decoder_input, h_in, c_in], [readout(step), h_out, c_out],
                          name="decoder_model")
    return model, encoder_model, decoder_model


def greedy_decode(encoder_model, decoder_model, source: np.ndarray) -> list[str]:
    """A whole batch at once: every word starts from ``^``; each step feeds back the most
    likely character; a word ends at its first ``$``."""
    h, c = encoder_model.predict(source, batch_size=256)
    n = len(source)
    token = np.zeros((n, 1, len(TARGET_CHARS)), dtype=np.float32)
    token[:, 0, TARGET_CHARS.index(START)] = 1.0
    chars = []
    for _ in range(MAX_DECODE):
        probs, h, c = decoder_model.predict([token, h, c], batch_size=256)
        best = probs[:, -1].argmax(axis=-1)
        chars.append(best)
        token = np.zeros_like(token)
        token[np.arange(n), 0, best] = 1.0
    words = []
    for row in np.stack(chars, axis=1):
        text = "".join(TARGET_CHARS[k] for k in row)
        words.append(text.split(END)[0] if END in text else text)
    return words


def main(scale: float = 1.0) -> dict:
    """Train with teacher forcing, translate held-out words greedily; ``scale`` shrinks the
    training set and the epochs. Returns the scores."""
    t0 = time.perf_counter()
    lstmcore.set_seed(7)
    rng = np.random.default_rng(7)
    n_test = 500
    n_train = max(800, int(8000 * scale))
    words = random_words(n_train + n_test, rng)
    test_words, train_words = words[:n_test], words[n_test:]
    enc, dec_in, dec_out = encode(train_words)
    verbose = 2 if scale >= 1 else 0

    model, encoder_model, decoder_model = build_models()
    if verbose:
        model.summary()
    stop = EarlyStopping(monitor="val_loss", patience=6, restore_best_weights=True)
    history = model.fit([enc, dec_in], dec_out, batch_size=64, epochs=max(4, int(50 * scale)),
                        validation_split=0.1, callbacks=[stop], verbose=verbose)

    test_enc, test_dec_in, test_dec_out = encode(test_words)
    # teacher-forced: each next character given the right ones before it
    char_accuracy = float(model.evaluate([test_enc, test_dec_in], test_dec_out, verbose=0)[1])
    # what always predicting the most frequent character (the end token) would score
    majority = float(np.mean(test_dec_out.argmax(-1) == TARGET_CHARS.index(END)))
    translated = greedy_decode(encoder_model, decoder_model, test_enc)
    expected = [translate_word(w) for w in test_words]
    exact = float(np.mean([t == e for t, e in zip(translated, expected)]))
    for w, e, t in list(zip(test_words, expected, translated))[:8]:
        print(f"{w:>7} -> {t:<9} expected {e:<7} {'ok' if t == e else 'WRONG'}")
    print(f"trained {len(history.epoch)} epochs on {len(train_words)} words; {n_test} held-out "
          f"words: greedy exact-match rate {exact:.4f} (target >= {TARGET_EXACT}), "
          f"teacher-forced character accuracy {char_accuracy:.4f} (always `$`: "
          f"{majority:.4f}) "
          f"in {time.perf_counter() - t0:.1f} s")
    return {"exact_match": exact, "char_accuracy": char_accuracy, "majority_baseline": majority}


if __name__ == "__main__":
    main()
