"""Keras-style progress output for fit/evaluate.

verbose=1 draws ``32/100 [=====>....] - ETA: 0s - loss: 0.2500`` redrawn at most ~10 times a
second on a terminal, and prints only the final line per epoch when the output is not a
terminal (logs, notebooks captured to files); verbose=2 prints one line per epoch.
"""

from __future__ import annotations

import sys
import time


def format_value(v: float) -> str:
    return f"{v:.4f}" if abs(v) > 1e-3 or v == 0 else f"{v:.4e}"


def format_logs(logs: dict) -> str:
    return "".join(f" - {k}: {format_value(v)}" for k, v in logs.items())


def _format_eta(eta: float) -> str:
    if eta > 3600:
        return f"{int(eta // 3600)}:{int(eta % 3600) // 60:02d}:{int(eta % 60):02d}"
    if eta > 60:
        return f"{int(eta // 60)}:{int(eta % 60):02d}"
    return f"{int(eta)}s"


class Progbar:
    def __init__(self, target: int, verbose: int = 1, width: int = 30, stream=None,
                 unit: str = "sample"):
        self.target = target
        self.unit = unit  # what target counts: samples (arrays) or steps (batches of a generator)
        self.verbose = verbose
        self.width = width
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.dynamic = bool(isatty and isatty())
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.prev_len = 0

    def _bar(self, current: int) -> str:
        n = len(str(self.target))
        bar = f"{current:>{n}}/{self.target} ["
        done = int(self.width * current / max(1, self.target))
        if done > 0:
            bar += "=" * (done - 1) + (">" if current < self.target else "=")
        return bar + "." * (self.width - done) + "]"

    def update(self, current: int, logs: dict) -> None:
        if self.verbose != 1 or not self.dynamic or current >= self.target:
            return
        now = time.perf_counter()
        if now - self.last_draw < 0.1:
            return
        self.last_draw = now
        elapsed = now - self.start
        eta = elapsed / max(1, current) * (self.target - current)
        line = f"{self._bar(current)} - ETA: {_format_eta(eta)}{format_logs(logs)}"
        pad = " " * max(0, self.prev_len - len(line))
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self.prev_len = len(line)

    def finish(self, logs: dict) -> None:
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        per = elapsed / max(1, self.target)
        per_s = f"{per * 1e6:.0f}us/{self.unit}" if per < 1e-3 else f"{per * 1e3:.0f}ms/{self.unit}"
        if self.verbose == 2:
            line = f"{self.target}/{self.target} - {elapsed:.0f}s - {per_s}{format_logs(logs)}"
        else:
            line = f"{self._bar(self.target)} - {elapsed:.0f}s {per_s}{format_logs(logs)}"
        pad = " " * max(0, self.prev_len - len(line))
        self.stream.write(("\r" if self.dynamic else "") + line + pad + "\n")
        self.stream.flush()
