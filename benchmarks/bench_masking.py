"""Masked batches of mixed lengths: what padding costs (issue #12), side by side in one run.

    python benchmarks/bench_masking.py [--B 64 --T 100 --F 32 --H 128] [--rounds 9]

One batch of B sequences with lengths drawn uniformly from [T/10, T], right-padded to T.
Rows (median ms per call over rounds, each round timing every variant once, in rotation):

- lstmcore, masked: Masking -> LSTM(H) -> Dense(1), predict_on_batch and train_on_batch
  (mse, Adam) on the padded batch;
- lstmcore, padded, no mask: the same model without Masking on the same batch: every padded
  step computed as if it were data (the cost the masked run must not exceed);
- lstmcore, unpadded: each sequence alone at its own length (the useful work, one call per
  sequence; per-call overhead included);
- PyTorch (when installed): nn.LSTM on the padded batch, and on the same batch through
  pack_padded_sequence (what users report as 5-110x slower, pytorch#149194), forward and
  forward + backward + Adam step, with the same thread count.

The masked/padded ratio is the number that matters: masking must cost no more than the
padded steps themselves. Not a test; timings are noisy, quote ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _time(fn, reps):
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--F", type=int, default=32)
    ap.add_argument("--H", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import lstmcore
    from lstmcore.layers import LSTM, Dense, Masking
    from lstmcore.models import Sequential

    lstmcore.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    lengths = rng.integers(max(1, a.T // 10), a.T + 1, size=a.B)
    x = rng.normal(size=(a.B, a.T, a.F)).astype(np.float32)
    for b, n in enumerate(lengths):
        x[b, n:] = 0.0
    y = rng.normal(size=(a.B, 1)).astype(np.float32)
    lstmcore.set_seed(0)
    masked = Sequential([Masking(0.0, input_shape=(a.T, a.F)), LSTM(a.H), Dense(1)])
    plain = Sequential([LSTM(a.H, input_shape=(None, a.F)), Dense(1)])
    plain.set_weights(masked.get_weights())
    for m in (masked, plain):
        m.compile("adam", "mse")
    seqs = [x[b:b + 1, :n] for b, n in enumerate(lengths)]

    variants = {
        "lstmcore masked: predict": lambda: masked.predict_on_batch(x),
        "lstmcore padded, no mask: predict": lambda: plain.predict_on_batch(x),
        "lstmcore unpadded, per sequence: predict": lambda: [plain.predict_on_batch(s) for s in seqs],
        "lstmcore masked: train step": lambda: masked.train_on_batch(x, y),
        "lstmcore padded, no mask: train step": lambda: plain.train_on_batch(x, y),
    }
    try:
        import torch
        torch.set_num_threads(a.threads)
        tl = torch.nn.LSTM(a.F, a.H, batch_first=True)
        head = torch.nn.Linear(a.H, 1)
        opt = torch.optim.Adam(list(tl.parameters()) + list(head.parameters()))
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        tlen = torch.from_numpy(lengths)

        def t_padded(train):
            out, (h, _) = tl(tx)
            p = head(out[torch.arange(a.B), tlen - 1])
            if train:
                opt.zero_grad()
                torch.nn.functional.mse_loss(p, ty).backward()
                opt.step()

        def t_packed(train):
            packed = torch.nn.utils.rnn.pack_padded_sequence(tx, tlen, batch_first=True,
                                                             enforce_sorted=False)
            _, (h, _) = tl(packed)
            p = head(h[-1])
            if train:
                opt.zero_grad()
                torch.nn.functional.mse_loss(p, ty).backward()
                opt.step()

        def no_grad(f):
            def run():
                with torch.no_grad():
                    f(False)
            return run

        variants.update({
            "PyTorch padded: predict": no_grad(t_padded),
            "PyTorch pack_padded_sequence: predict": no_grad(t_packed),
            "PyTorch padded: train step": lambda: t_padded(True),
            "PyTorch pack_padded_sequence: train step": lambda: t_packed(True),
        })
    except ImportError:
        pass

    reps = {k: max(1, int(0.2 / max(1e-6, _time(f, 1) / 1e3))) for k, f in variants.items()}
    times = {k: [] for k in variants}
    names = list(variants)
    for r in range(a.rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            times[k].append(_time(variants[k], reps[k]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"B={a.B} T={a.T} F={a.F} H={a.H}, lengths {lengths.min()}..{lengths.max()} "
          f"(mean {lengths.mean():.0f}, {lengths.sum() / (a.B * a.T):.0%} of the padded steps "
          f"are data), {a.threads} threads, median of {a.rounds} rounds")
    print(f"{'variant':<45} {'ms/call':>9}")
    for k in names:
        print(f"{k:<45} {med[k]:>9.3f}")
    for mode in ("predict", "train step"):
        m = med[f"lstmcore masked: {mode}"]
        p = med[f"lstmcore padded, no mask: {mode}"]
        print(f"masked / padded ({mode}): {m / p:.2f}")
        if f"PyTorch pack_padded_sequence: {mode}" in med:
            print(f"PyTorch packed / PyTorch padded ({mode}): "
                  f"{med[f'PyTorch pack_padded_sequence: {mode}'] / med[f'PyTorch padded: {mode}']:.2f}; "
                  f"PyTorch packed / lstmcore masked: "
                  f"{med[f'PyTorch pack_padded_sequence: {mode}'] / m:.1f}")


if __name__ == "__main__":
    main()
