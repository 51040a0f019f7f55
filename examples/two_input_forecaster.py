"""Two-input forecaster: a daily series and the calendar of the day to forecast, joined with
``Concatenate`` (functional API).

A synthetic daily demand series: a slowly wandering level, a weekly pattern (weekends low) and
promotions — days announced in advance, chosen at random, that lift demand — plus noise. The
forecast of day t+1 reads two inputs:

* the series: the last 14 days of (demand, promotion flag), ``(14, 2)``, read by an LSTM;
* the calendar of day t+1: its day of the week one-hot and whether it is a promotion day,
  ``(8,)`` — known in advance, and not inferable from the past (promotions are random).

``Concatenate()([lstm_summary, calendar])`` -> ``Dense(16, relu)`` -> ``Dense(1)``, mean squared
error, Adam. Each window is taken relative to its own mean demand (the level wanders). The
first 80% of the days train, the rest test. Baselines: the last value (naive) and the value 7
days earlier (seasonal naive); the better of the two is the one to beat. The same network
without the calendar input shows what the second input adds.

Run:   PYTHONPATH=python python examples/two_input_forecaster.py
Result: reaches a test RMSE >= 2x lower than the better naive baseline: 2.76x measured (RMSE
0.403 vs the seasonal naive's 1.112; the noise alone is 0.35), against 0.813 without the
calendar input, in a few seconds on 2 cores.
"""

from __future__ import annotations

import time

import lstmcore
import numpy as np
from lstmcore import Input, Model
from lstmcore.layers import LSTM, Concatenate, Dense
from lstmcore.utils import make_windows

LOOKBACK = 14
WEEKLY = np.array([0.4, 0.6, 0.5, 0.7, 1.0, -1.2, -1.5])  # Monday .. Sunday
PROMOTION_LIFT = 2.0
TARGET_FACTOR = 2.0


def make_data(days: int, rng: np.random.Generator):
    """(demand (days,), promotion flags (days,), day of week (days,))."""
    weekday = np.arange(days) % 7
    promotion = (rng.random(days) < 0.12).astype(np.float32)
    level = 10.0 + np.cumsum(rng.normal(scale=0.08, size=days))
    demand = level + WEEKLY[weekday] + PROMOTION_LIFT * promotion + \
        rng.normal(scale=0.35, size=days)
    return demand.astype(np.float32), promotion, weekday


def build_model(with_calendar: bool = True) -> Model:
    """The two-input model, or (``with_calendar=False``) the same without the calendar."""
    series = Input(shape=(LOOKBACK, 2), name="series")
    summary = LSTM(32, name="history")(series)
    if with_calendar:
        calendar = Input(shape=(8,), name="calendar")
        inputs, features = [series, calendar], Concatenate(name="joined")([summary, calendar])
    else:
        inputs, features = series, summary
    hidden = Dense(16, activation="relu", name="hidden")(features)
    forecast = Dense(1, name="forecast")(hidden)
    model = Model(inputs, forecast, name="two_input_forecaster" if with_calendar else
                  "series_only")
    model.compile(optimizer="adam", loss="mse")
    return model


def main(scale: float = 1.0) -> dict:
    """Train and test; ``scale`` shrinks the series and the epochs. Returns the scores."""
    t0 = time.perf_counter()
    lstmcore.set_seed(11)
    rng = np.random.default_rng(11)
    days = max(400, int(3000 * scale))
    demand, promotion, weekday = make_data(days, rng)
    split = int(0.8 * (days - LOOKBACK))
    frames = np.stack([demand, promotion], axis=1)                      # (days, 2)
    x_series, y = make_windows(frames, lookback=LOOKBACK)               # y (n, 1, 2)
    # each window relative to its own mean demand (the level wanders out of the training
    # range), scaled by the training set's spread
    offset = x_series[:, :, :1].mean(axis=1)                            # (n, 1)
    x_series[:, :, :1] -= offset[:, None]
    y = y[:, 0, :1] - offset                                            # the demand of t+1
    std = float(x_series[:split, :, 0].std())
    x_series[:, :, :1] /= std
    y /= std
    target_day = np.arange(LOOKBACK, days)
    x_calendar = np.concatenate([np.eye(7, dtype=np.float32)[weekday[target_day]],
                                 promotion[target_day, None]], axis=1)  # (n, 8)

    verbose = 2 if scale >= 1 else 0
    epochs = max(3, int(40 * scale))
    truth = demand[target_day[split:]]

    def test_rmse(model, x_train, x_test) -> float:
        model.fit(x_train, y[:split], batch_size=32, epochs=epochs, validation_split=0.1,
                  verbose=verbose)
        pred = (model.predict(x_test) * std + offset[split:])[:, 0]
        return float(np.sqrt(np.mean((pred - truth) ** 2)))

    model = build_model()
    if verbose:
        model.summary()
    rmse = test_rmse(model, [x_series[:split], x_calendar[:split]],
                     [x_series[split:], x_calendar[split:]])
    # the same network without the calendar input: what the second input adds
    series_only = test_rmse(build_model(with_calendar=False), x_series[:split],
                            x_series[split:])
    naive = float(np.sqrt(np.mean((demand[target_day[split:] - 1] - truth) ** 2)))
    seasonal = float(np.sqrt(np.mean((demand[target_day[split:] - 7] - truth) ** 2)))
    best = min(naive, seasonal)
    print(f"test RMSE {rmse:.4f}; naive (last value) {naive:.4f}, seasonal naive (7 days "
          f"earlier) {seasonal:.4f}: {best / rmse:.2f}x lower than the better baseline "
          f"(target >= {TARGET_FACTOR}x); without the calendar input {series_only:.4f} "
          f"in {time.perf_counter() - t0:.1f} s")
    return {"rmse": rmse, "naive_rmse": naive, "seasonal_naive_rmse": seasonal,
            "series_only_rmse": series_only, "improvement": best / rmse,
            "calendar_gain": series_only / rmse}


if __name__ == "__main__":
    main()
