"""Figures of a report (matplotlib, Agg, PNG): PCA panels, lambda curves, validation curves.

Every function takes plain arrays, draws on its own :class:`matplotlib.figure.Figure`
(no pyplot state, no display needed: the Agg canvas renders it), writes the PNG
atomically and returns its path. matplotlib is imported inside the functions, so importing
this module is cheap.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corel_jax.rundir import write_bytes

DPI = 110


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path | str) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    write_bytes(path, buf.getvalue())
    return Path(path)


def _finish_line_plot(fig, ax, xlabel: str, ylabel: str, title: str | None, path) -> Path:
    """Labels, grid, legend and title of a one-axes line plot, then saves it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def pca_2d(h: Any, max_points: int | None = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA projection of ``h: [N, D]`` -> ``(xy [M, 2], index [M])``.

    When ``N > max_points`` a fixed-seed sample of ``max_points`` rows is projected (the
    PCA is fitted on the same sample); ``index`` says which rows. ``D = 1`` is padded with a
    zero second coordinate.
    """
    from sklearn.decomposition import PCA

    from corel_jax.evaluate.clustering import check_representations

    h = check_representations(h)
    idx = np.arange(h.shape[0])
    if max_points is not None and h.shape[0] > int(max_points):
        idx = np.sort(np.random.default_rng(seed).choice(h.shape[0], int(max_points), False))
    x = h[idx]
    k = min(2, x.shape[1], x.shape[0])
    xy = PCA(n_components=k, random_state=seed).fit_transform(x)
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return xy, idx


def plot_pca_panels(
    panels: Sequence[tuple[str, Any, Any]],
    path: Path | str,
    title: str = "",
    max_points: int | None = 2000,
    seed: int = 0,
) -> Path:
    """The paper's Figure 1: one panel per loss, test representations in 2-D coloured by class.

    ``panels``: ``[(panel_title, h [N, D], labels [N]), ...]``. Each panel has its own PCA.
    """
    if not panels:
        raise ValueError("panels is empty; pass at least one (title, h, labels) triple")
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = _new_figure(3.6 * cols, 3.4 * rows + (0.4 if title else 0.0))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, h, labels) in zip(axes, panels):
        xy, idx = pca_2d(h, max_points, seed)
        y = np.asarray(labels)[idx]
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap="tab10", s=5, alpha=0.75, linewidths=0,
                        vmin=0, vmax=max(9, int(y.max()) if y.size else 9))
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.colorbar(sc, ax=list(axes[:n]), label="class", shrink=0.8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_lambda_curves(
    curves: Mapping[str, tuple[Any, Any, Any]],
    path: Path | str,
    title: str = "",
    ylabel: str = "best validation accuracy",
) -> Path:
    """The paper's Figure 2: best validation accuracy against lambda, one line per loss.

    ``curves``: ``{loss: (lams [L], mean [L], std [L])}``; the std (over seeds) is drawn as
    error bars (NaN std: none).
    """
    if not curves:
        raise ValueError("curves is empty; pass {loss: (lams, mean, std)}")
    fig = _new_figure(5.5, 3.8)
    ax = fig.subplots()
    for loss, (lams, mean, std) in curves.items():
        lams, mean, std = (np.asarray(v, dtype=np.float64) for v in (lams, mean, std))
        order = np.argsort(lams)
        err = np.where(np.isfinite(std), std, 0.0)[order]
        ax.errorbar(lams[order], mean[order], yerr=err, marker="o", ms=4, capsize=3,
                    label=loss)
    return _finish_line_plot(fig, ax, "λ", ylabel, title, path)


def plot_val_curves(
    curves: Mapping[str, Any],
    path: Path | str,
    title: str = "",
    ylabel: str = "validation accuracy",
) -> Path:
    """Per-epoch validation curves: ``{label: [R, E]}`` (runs x epochs), mean over runs as a
    line and min-max over runs as a band. NaN entries (epochs not run) are ignored.
    """
    if not curves:
        raise ValueError("curves is empty; pass {label: array [runs, epochs]}")
    fig = _new_figure(5.5, 3.8)
    ax = fig.subplots()
    for label, arr in curves.items():
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"curves[{label!r}] must be [runs, epochs]; got shape {arr.shape}")
        keep = np.isfinite(arr).any(axis=0)
        if not keep.any():
            continue
        epochs = np.arange(1, arr.shape[1] + 1)[keep]
        a = arr[:, keep]
        with np.errstate(all="ignore"):
            mean, lo, hi = np.nanmean(a, 0), np.nanmin(a, 0), np.nanmax(a, 0)
        (line,) = ax.plot(epochs, mean, marker="." if len(epochs) < 30 else None, label=label)
        ax.fill_between(epochs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish_line_plot(fig, ax, "epoch", ylabel, title, path)
