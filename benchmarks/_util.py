"""Shared helpers for the benchmark scripts: timing, thread control, machine info, tables.

Benchmarks never gate CI (STYLE.md section 9); these helpers only measure and print.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import statistics
import subprocess
import time

try:  # optional: limits NumPy's BLAS threads; never a dependency of lstmcore
    import threadpoolctl
except ImportError:  # pragma: no cover - depends on the environment
    threadpoolctl = None


def calibrate(fn, min_seconds):
    """Number of calls of fn that take at least min_seconds (>= 1), from one timed call."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    if dt <= 0:
        return 1000
    return max(1, int(min_seconds / dt + 0.999))


def time_interleaved(fns, repeats, warmup=2, min_seconds=0.002, settle=0.0):
    """Median seconds per call of each callable in ``fns`` (a dict name -> fn).

    The implementations are interleaved within every repeat (A B, then B A, ...) so that
    frequency drift and cache state hit all of them alike. Each sample runs a calibrated
    number of calls (>= min_seconds per sample) so that microsecond kernels are measurable.

    ``settle``: seconds to sleep before each sample. Thread pools (OpenMP, OpenBLAS) keep
    their workers spinning for a while after a call; when both pools together have more
    threads than there are cores, the next library's threads then wait for a core and its
    timing measures the other's spin, not itself. Sleeping lets the idle pool park first.
    """
    names = list(fns)

    def pause():
        if settle > 0:
            time.sleep(settle)

    for _ in range(warmup):
        for n in names:
            pause()
            fns[n]()
    inner = {}
    for n in names:
        pause()
        inner[n] = calibrate(fns[n], min_seconds)
    samples = {n: [] for n in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            fn, k = fns[n], inner[n]
            pause()
            fn()  # untimed: brings this library's pool and caches back
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            samples[n].append((time.perf_counter() - t0) / k)
    return {n: statistics.median(samples[n]) for n in names}


@contextlib.contextmanager
def numpy_threads(n):
    """Limit NumPy's BLAS to n threads if threadpoolctl is importable; otherwise a no-op."""
    if threadpoolctl is None:
        yield False
        return
    with threadpoolctl.threadpool_limits(limits=n, user_api="blas"):
        yield True


def numpy_blas():
    """A short description of the BLAS NumPy uses (via threadpoolctl when available)."""
    if threadpoolctl is not None:
        libs = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            i = libs[0]
            return f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
    return "unknown (threadpoolctl not installed)"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def header(core):
    """Markdown lines describing the machine and the build."""
    import numpy as np

    info = core.build_info()
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs visible)",
        f"- lstmcore {info.get('version')} commit {git_commit()}, {info['compiler']}, "
        f"OpenMP {info['openmp']}, SIMD selected {info['simd']} (supported: {', '.join(info['simd_supported'])})",
        f"- NumPy {np.__version__}, BLAS {numpy_blas()}",
    ]


def markdown_table(columns, rows):
    """A markdown table; numeric columns right-aligned."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(columns[i]), *(len(r[i]) for r in cells)) if cells else len(columns[i])
              for i in range(len(columns))]
    numeric = [all(_is_num(r[i]) for r in cells) and bool(cells) for i in range(len(columns))]
    line = "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in zip(widths, numeric)) + "|"
    out = [line, sep]
    for r in cells:
        out.append("| " + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(r, widths, numeric)) + " |")
    return "\n".join(out)


def _is_num(s):
    try:
        float(s)
        return True
    except ValueError:
        return False
