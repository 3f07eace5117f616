"""Mean +- std over seeds and the paper's paired t-test between losses (numpy / scipy).

The paper (Table 2) reports, per setting and loss, test accuracy over seeds and marks the
best loss when a paired two-tailed t-test against the next best gives ``p < 0.05`` (``*``)
or ``p < 0.01`` (``**``). Runs are paired by seed: seed ``s`` of one loss against seed ``s``
of the other (same initialisation seed and data order), using only seeds both have. The best
is ranked by its mean over all its seeds, so with different seed sets it can be worse than
the runner-up on the shared seeds; it is then not marked, however small ``p``.

Standard deviations are sample standard deviations (``ddof=1``); with one seed the std is
NaN (shown as a bare mean).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The paper's order of losses in tables; other names follow alphabetically.
LOSS_ORDER = ("cce", "center", "cosine", "gaussian")


def loss_sort_key(loss: str) -> tuple[int, str]:
    """Sort key putting the paper's losses first, in the paper's order.

    >>> sorted(["gaussian", "zzz", "cce", "cosine"], key=loss_sort_key)
    ['cce', 'cosine', 'gaussian', 'zzz']
    """
    return (LOSS_ORDER.index(loss), "") if loss in LOSS_ORDER else (len(LOSS_ORDER), loss)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of finite values; NaN where undefined.

    >>> mean_std([0.9, 0.8, 1.0])
    (0.9, 0.1)
    >>> mean_std([0.5])
    (0.5, nan)
    """
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    mean = float(np.round(v.mean(), 12))
    std = float(np.round(v.std(ddof=1), 12)) if v.size > 1 else float("nan")
    return mean, std


def significance_marker(p: float) -> str:
    """``"**"`` for ``p < 0.01``, ``"*"`` for ``p < 0.05``, else ``""`` (also for NaN).

    >>> [significance_marker(p) for p in (0.001, 0.01, 0.049, 0.05, float("nan"))]
    ['**', '*', '*', '', '']
    """
    if p is None or not math.isfinite(p):
        return ""
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return ""


def paired_ttest(a: Mapping[Any, float], b: Mapping[Any, float]) -> tuple[float, float, int]:
    """Paired two-tailed t-test of ``a`` against ``b``, paired by key (seed).

    ``a``, ``b``: ``{seed: value}``. Only seeds present (and finite) in both are used.
    Returns ``(t, p, n_pairs)``; ``t > 0`` means ``a`` is larger. With fewer than two pairs,
    or when every difference is the same (zero variance), ``t`` and ``p`` are NaN
    (:func:`scipy.stats.ttest_rel` semantics).

    >>> t, p, n = paired_ttest({0: 0.91, 1: 0.93, 2: 0.92}, {0: 0.90, 1: 0.90, 2: 0.90})
    >>> n, round(t, 4), round(p, 4)
    (3, 3.4641, 0.0742)
    """
    from scipy.stats import ttest_rel

    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        raise ValueError(
            "paired_ttest pairs runs by seed: pass a and b as {seed: value} mappings, "
            f"got {type(a).__name__} and {type(b).__name__}"
        )
    keys = sorted(
        k for k in set(a) & set(b) if math.isfinite(float(a[k])) and math.isfinite(float(b[k]))
    )
    if len(keys) < 2:
        return float("nan"), float("nan"), len(keys)
    x = np.array([float(a[k]) for k in keys])
    y = np.array([float(b[k]) for k in keys])
    d = x - y
    if np.all(d == d[0]):  # zero variance: the t statistic is undefined (or infinite)
        return float("nan"), float("nan"), len(keys)
    res = ttest_rel(x, y)
    return float(res.statistic), float(res.pvalue), len(keys)


@dataclass(frozen=True)
class LossSummary:
    """One loss in one setting: ``mean``/``std`` of the value over ``n`` seeds."""

    loss: str
    mean: float
    std: float
    n: int
    values: dict[Any, float] = field(repr=False)  # {seed: value}


@dataclass(frozen=True)
class SettingComparison:
    """All losses in one setting, and the t-test of the best against the runner-up.

    ``losses``: ``{loss: LossSummary}`` in table order. ``best`` / ``runner_up``: loss names
    by mean (``None`` if absent). ``t``, ``p``, ``n_pairs``: the paired t-test of best vs
    runner-up. ``marker``: ``"**"``, ``"*"`` or ``""`` (see :func:`significance_marker`);
    ``""`` also when ``t`` says the best is worse than the runner-up on the paired seeds.
    """

    setting: str
    losses: dict[str, LossSummary]
    best: str | None
    runner_up: str | None
    t: float
    p: float
    n_pairs: int
    marker: str


def compare_losses(
    records: Iterable[Mapping[str, Any]],
    value: str = "test_acc",
    higher_is_better: bool = True,
) -> dict[str, SettingComparison]:
    """Per setting and loss, mean +- std over seeds, and a paired t-test of best vs next best.

    ``records``: one mapping per run with keys ``"setting"``, ``"loss"``, ``"seed"`` and
    ``value`` (e.g. ``{"setting": "mnist-mlp", "loss": "cce", "seed": 0, "test_acc": 0.98}``).
    Each (setting, loss, seed) must appear at most once -- select one lambda per loss first.
    Returns ``{setting: SettingComparison}`` in first-seen order of settings.

    >>> recs = [{"setting": "s", "loss": l, "seed": i, "test_acc": a}
    ...         for l, accs in {"cce": [0.90, 0.91, 0.92], "cosine": [0.95, 0.97, 0.96]}.items()
    ...         for i, a in enumerate(accs)]
    >>> c = compare_losses(recs)["s"]
    >>> c.best, c.runner_up, c.n_pairs, round(c.p, 4), c.marker
    ('cosine', 'cce', 3, 0.0131, '*')
    """
    grouped: dict[str, dict[str, dict[Any, float]]] = {}
    for i, r in enumerate(records):
        missing = [k for k in ("setting", "loss", "seed", value) if k not in r]
        if missing:
            raise ValueError(
                f"record {i} is missing {missing}; compare_losses needs 'setting', 'loss', "
                f"'seed' and {value!r} in each record"
            )
        per_loss = grouped.setdefault(str(r["setting"]), {}).setdefault(str(r["loss"]), {})
        seed = int(r["seed"])
        if seed in per_loss:
            raise ValueError(
                f"setting {r['setting']!r}, loss {r['loss']!r} has seed {seed} twice; pass one "
                f"run per seed (select a single lambda per loss first)"
            )
        per_loss[seed] = float(r[value]) if r[value] is not None else float("nan")

    out: dict[str, SettingComparison] = {}
    for setting, per_loss in grouped.items():
        summaries = {}
        for loss in sorted(per_loss, key=loss_sort_key):
            vals = per_loss[loss]
            m, s = mean_std(vals.values())
            n = sum(1 for v in vals.values() if math.isfinite(v))
            summaries[loss] = LossSummary(loss, m, s, n, dict(vals))
        sign = 1.0 if higher_is_better else -1.0
        ranked = sorted(
            (x for x in summaries.values() if math.isfinite(x.mean)),
            key=lambda x: (-sign * x.mean, loss_sort_key(x.loss)),
        )
        best = ranked[0].loss if ranked else None
        runner = ranked[1].loss if len(ranked) > 1 else None
        t = p = float("nan")
        n_pairs = 0
        if best is not None and runner is not None:
            t, p, n_pairs = paired_ttest(summaries[best].values, summaries[runner].values)
        # Mark only a best that beats the runner-up on the paired seeds (NaN t: no marker).
        marker = significance_marker(p) if sign * t > 0 else ""
        out[setting] = SettingComparison(
            setting, summaries, best, runner, t, p, n_pairs, marker
        )
    return out
