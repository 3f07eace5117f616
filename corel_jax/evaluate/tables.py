"""The report's tables as cells: Table 2 (test accuracy), Tables 3-4 (clustering), and the
formatting they share (``mean ± std``, Markdown)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from corel_jax.evaluate.scores import SCORE_KEYS, score_columns
from corel_jax.evaluate.stats import loss_sort_key
from corel_jax.evaluate.sweeps import Sweep

METHOD_TITLES = {"kmeans": "K-Means", "gmm": "GMM"}
SCORE_TITLES = {"acc": "Acc", "ari": "ARI", "v_measure": "V-M", "silhouette": "Sil.",
                "agreement": "Agree"}


def score_titles(methods: Sequence[str]) -> list[str]:
    """The column titles of :func:`~corel_jax.evaluate.scores.score_columns`."""
    return ["Proto Acc"] + [f"{METHOD_TITLES[m]} {SCORE_TITLES[k]}"
                            for m in methods for k in SCORE_KEYS]


def fmt(mean: float, std: float, scale: float = 1.0, digits: int = 3) -> str:
    """``"mean ± std"`` (scaled), a bare mean when std is NaN, ``"n/a"`` when mean is NaN.

    >>> fmt(0.98123, 0.0005, 100, 2), fmt(0.5, float("nan")), fmt(float("nan"), 0.1)
    ('98.12 ± 0.05', '0.500', 'n/a')
    """
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def md_escape(s: str) -> str:
    """``s`` with the characters Markdown would read as emphasis or a cell border escaped."""
    return s.replace("*", r"\*").replace("|", r"\|")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: a header row, then one row per list of string cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def lam_str(lam: float, uses_lam: bool = True) -> str:
    """λ as the tables show it: "—" for a loss that does not read λ (e.g. CCE)."""
    return f"{lam:g}" if uses_lam else "—"


def table2(
    comparisons: dict, lam_of: dict[tuple[str, str], float], sweeps: Sequence[Sweep]
) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Table 2 as ``(header, markdown rows, plain-text rows)``: rows = losses, columns =
    settings, cells = test accuracy (%) mean ± std over seeds; the best loss per setting in
    bold with ``*`` / ``**`` when it beats the runner-up at p < 0.05 / 0.01 (paired t-test);
    ``(λ=...)`` when the sweep tried several lambdas.
    """
    settings = list(comparisons)
    losses = sorted({loss for c in comparisons.values() for loss in c.losses}, key=loss_sort_key)
    multi = {(s.setting, s.loss): len(s.lams) > 1 for s in sweeps}
    md_rows, csv_rows = [], []
    for loss in losses:
        md, plain = [loss], [loss]
        for setting in settings:
            c = comparisons[setting]
            if loss not in c.losses:
                md.append("—")
                plain.append("")
                continue
            x = c.losses[loss]
            cell = fmt(x.mean, x.std, 100, 2)
            lam = f" (λ={lam_str(lam_of[(setting, loss)])})" if multi[(setting, loss)] else ""
            if loss == c.best:
                md.append(f"**{cell}**{md_escape(c.marker)}{lam}")
                plain.append(f"{cell}{c.marker}{lam}")
            else:
                md.append(cell + lam)
                plain.append(cell + lam)
        md_rows.append(md)
        csv_rows.append(plain)
    return ["Loss"] + settings, md_rows, csv_rows


def clustering_table(
    summaries: Sequence[dict], methods: Sequence[str], setting: str
) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Tables 3-4 for one setting: rows = losses; columns = prototype accuracy, then per
    method Acc, ARI, V-M, Sil. and agreement with the output layer; best mean per column in
    bold (markdown rows).
    """
    rows = sorted((s for s in summaries if s["setting"] == setting),
                  key=lambda s: loss_sort_key(s["loss"]))
    cols = score_columns(methods)
    header = ["Loss", "λ", "n"] + score_titles(methods)
    best = {}
    for c in cols:
        means = [s[f"{c}_mean"] for s in rows if math.isfinite(s[f"{c}_mean"])]
        best[c] = max(means) if means else None
    md_rows, plain_rows = [], []
    for s in rows:
        md = [s["loss"], lam_str(s["lam"], s.get("uses_lam", True)), str(s["n"])]
        plain = list(md)
        for c in cols:
            cell = fmt(s[f"{c}_mean"], s[f"{c}_std"])
            plain.append(cell)
            is_best = best[c] is not None and len(rows) > 1 and s[f"{c}_mean"] == best[c]
            md.append(f"**{cell}**" if is_best else cell)
        md_rows.append(md)
        plain_rows.append(plain)
    return header, md_rows, plain_rows
