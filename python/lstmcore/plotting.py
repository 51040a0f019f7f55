"""plot_history: loss and metric curves of a fit (matplotlib, the optional `plot` extra)."""

from __future__ import annotations


def plot_history(history, metrics=None, path=None):
    """Draw training (and validation) curves of a ``History`` with matplotlib.

    Args:
        history: the ``History`` returned by ``fit`` (or its ``.history`` dict).
        metrics: names to plot. Default: ``'loss'`` and every compiled metric.
        path: save a PNG there when given.

    Returns the matplotlib Figure.
    """
    try:
        import matplotlib
        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_history needs matplotlib: pip install 'lstmcore[plot]' "
                          "(or pip install matplotlib)") from None
    h = getattr(history, "history", history)
    if not isinstance(h, dict) or not h:
        raise ValueError("`history` must be the History returned by fit(), with at least one epoch")
    names = list(metrics) if metrics else [k for k in h if not k.startswith("val_")]
    for n in names:
        if n not in h:
            raise ValueError(f"`{n}` is not in the history; available: {', '.join(sorted(h))}")
    epochs = getattr(history, "epoch", None) or list(range(len(h[names[0]])))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, n in zip(axes[0], names):
        ax.plot([e + 1 for e in epochs], h[n], label=f"training {n}")
        if "val_" + n in h:
            ax.plot([e + 1 for e in epochs], h["val_" + n], label=f"validation {n}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(n)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
