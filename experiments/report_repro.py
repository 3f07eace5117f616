"""The report of one reproduction, from its compact stage store: ``report.md`` and friends.

Reads only what git holds (``experiments/results/<setting>/<profile>/stages``: per stage
``config.json``, ``runs.json``, ``curves.csv``, ``stage.json`` and, for final stages,
``clustering.csv``), so any machine can rewrite the report, and a reproduction still running
gets a report of the stages it has finished (the others are listed as not yet run). Sections:

- how it was run (command, protocol, hardware recorded by the stages, wall time per stage and
  the run-epochs early stopping saved);
- the λ curves of the sweeps beside the paper's (digitised from its supplementary Figure 1,
  ``configs/paper_curves.py``), as a table and a figure;
- the selected λ and the best validation accuracy against the paper's, two ways (our final
  seeds' mean, and our single sweep run at the selected λ), with how many are within ±0.5;
- test accuracy of the final seeds with paired t-tests (our choice of test): each loss against
  CCE (the paper's baseline) and the best against the runner-up;
- clustering scores of the final runs' test representations (computed when the stage was
  stored);
- the original code's Gaussian beside ours, when both sweeps exist;
- fixed prototypes (``experiments/fixed_prototype_curves.py``'s ``curve-<loss>_fixed_w``
  stages, when any is committed, whole or in parts): both λ curves beside the paper's, and
  each variant's mean absolute difference from it (only from a complete curve);
- figures of the final runs (PCA, validation curves) when their run directories (with
  representations) are on this machine (``--runs``);
- ``discussion.md`` from the output folder, when present.

Command (from the repository root; seconds, no JAX)::

    python experiments/report_repro.py --setting mnist-mlp --profile paper
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corel_jax.evaluate.tables import fmt, md_table  # noqa: E402

from configs import ALL_LOSSES, TUNED_LOSSES, ReproConfig, get_config, paper_best_val  # noqa: E402
from configs.paper_curves import paper_curve  # noqa: E402
from stage_store import STAGE_FILE  # noqa: E402

HERE = Path(__file__).resolve().parent
ORIGINAL = "gaussian_original"  # the original code's Gaussian (experiments/gaussian_original.py)
LEARNED = "gaussian_learned"  # Gaussian-COREL with learned γ (our extension)
GAP = 0.5  # points; larger gaps to the paper are flagged
PAPER_EPOCHS = 150  # the paper's training length per run
FIXED_LOSSES = ("cosine", "gaussian")  # the prototype losses with a fixed-W variant
SHAPE_GAP = 1.0  # points from the paper's curve, offset removed: off its shape
FAIL_GAP = 5.0  # points below the paper's curve: a collapse or a run at chance
CURVE_LABELS = {"center": "center", "cosine": "cosine", "gaussian": "gaussian (clean, ours)",
                ORIGINAL: "gaussian (original code's double weighting)",
                LEARNED: "gaussian, learned γ (ours)", "cce": "cce"}


# --------------------------------------------------------------------------- reading


@dataclasses.dataclass(frozen=True)
class Stage:
    """One finished stage, as stored: its folder, record, config and runs."""

    name: str
    path: Path
    record: dict[str, Any]
    config: dict[str, Any]
    runs: list[dict[str, Any]]

    @property
    def clustering(self) -> list[dict[str, Any]]:
        """Rows of ``clustering.csv`` (final stages; empty when absent), numbers as floats."""
        f = self.path / "clustering.csv"
        if not f.is_file():
            return []
        with f.open(newline="") as fh:
            return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _num(v: str) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def load_stages(store: Path) -> dict[str, Stage]:
    """Every finished stage under ``store`` (folders holding ``stage.json``), by name
    (``sweep-cosine``, ``sweep-cosine/part-1of5``, ``final-cce``, ...)."""
    from corel_jax import rundir

    from stage_store import read_record

    stages = {}
    for f in sorted(Path(store).rglob(STAGE_FILE)):
        d = f.parent
        name = d.relative_to(store).as_posix()
        # every stored file is checked against the hash its stage recorded
        stages[name] = Stage(name, d, read_record(d), rundir.load_config(d),
                             rundir.load_runs(d))
    return stages


def expected_stages(cfg: ReproConfig) -> list[str]:
    """The stages a full reproduction of ``cfg`` runs, in order."""
    names = [f"sweep-{loss}" for loss in sorted(
        ALL_LOSSES, key=lambda loss: f"sweep-{loss}" not in cfg.full_stages)]
    if cfg.original_gaussian:
        names.append(f"sweep-{ORIGINAL}")
    names += [f"final-{loss}" for loss in ALL_LOSSES]
    if cfg.original_gaussian and cfg.profile == "paper":
        names.append(f"final-{ORIGINAL}")
    if cfg.learned_gamma_final:
        names.append(f"final-{LEARNED}")
    return names


# --------------------------------------------------------------------------- numbers


def _pct(mean: float, std: float = math.nan) -> str:
    """An accuracy in percent with 2 decimals, ``"mean ± std"`` when ``std`` is given
    (:func:`corel_jax.evaluate.tables.fmt`: ``"n/a"`` for NaN)."""
    return fmt(mean, std, 100, 2)


def _finite(vals) -> np.ndarray:
    return np.asarray([x for x in vals if x is not None and math.isfinite(x)], np.float64)


def sweep_curve(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per λ of a sweep: mean/std of best validation accuracy over seeds, mean test accuracy,
    the best epochs, the number of runs, how many diverged and the earliest divergence."""
    from corel_jax.evaluate import lambda_curve

    out = []
    for c in lambda_curve(runs):
        rs = [r for r in runs if float(r["lam"]) == c["lam"]]
        div = [r for r in rs if r.get("diverged")]
        test = _finite(r.get("test_acc") for r in rs)
        out.append({"lam": c["lam"], "mean": c["mean"], "std": c["std"], "n": len(rs),
                    "diverged": len(div),
                    "diverged_epoch": min((r["diverged_epoch"] for r in div), default=None),
                    "test_mean": float(test.mean()) if test.size else float("nan"),
                    "best_epochs": [r.get("best_epoch") for r in rs]})
    return out


def final_summary(stage: Stage, paper: float | None) -> dict[str, Any]:
    """Mean ± std over the final seeds of best validation and test accuracy, against the
    paper's best validation accuracy (%)."""
    from corel_jax.evaluate.stats import mean_std

    runs = stage.runs
    v = mean_std(r["best_val_acc"] for r in runs)
    t = mean_std(r["test_acc"] for r in runs)
    return {"lam": float(runs[0]["lam"]), "n": len(runs),
            "diverged": sum(bool(r.get("diverged")) for r in runs),
            "best_val_mean": v[0], "best_val_std": v[1], "test_mean": t[0], "test_std": t[1],
            "epochs": stage.config.get("epochs"),  # the most each run trains (its config)
            "best_epochs": [r["best_epoch"] for r in runs],
            "epochs_trained": [r.get("epochs_trained") for r in runs],
            "paper_best_val": paper,
            "diff_vs_paper": None if paper is None else 100 * v[0] - paper}


def ttests(finals: dict[str, Stage]) -> list[dict[str, Any]]:
    """Paired two-tailed t-tests on test accuracy, paired by seed (our choice: the paper does
    not state its test): every loss against CCE (the paper's baseline), and the best loss (by
    mean) against the runner-up (ranked by :func:`corel_jax.evaluate.stats.compare_losses`)."""
    from corel_jax.evaluate.stats import compare_losses, paired_ttest, significance_marker

    acc = {loss: {int(r["seed"]): float(r["test_acc"]) for r in s.runs}
           for loss, s in finals.items()}
    out = []
    pairs = [(loss, "cce") for loss in acc if loss != "cce" and "cce" in acc]
    ranked = compare_losses({"setting": "", "loss": loss, "seed": seed, "test_acc": a}
                            for loss in acc if loss in ALL_LOSSES
                            for seed, a in acc[loss].items()).get("")
    best = (ranked.best, ranked.runner_up) if ranked and ranked.runner_up else None
    if best is not None and best not in pairs:
        pairs.append(best)
    for a, b in pairs:
        t, p, n = paired_ttest(acc[a], acc[b])
        diff = np.mean([acc[a][s] - acc[b][s] for s in acc[a] if s in acc[b]]) \
            if n else float("nan")
        kind = "; ".join((["vs CCE"] if b == "cce" else [])
                         + (["best vs runner-up"] if (a, b) == best else []))
        out.append({"loss": a, "against": b, "kind": kind,
                    "mean_diff": float(diff), "t": t, "p": p, "n": n,
                    "marker": significance_marker(p) if math.isfinite(p) and diff > 0 else ""})
    return out


def clustering_summary(stage: Stage) -> list[dict[str, Any]]:
    """Mean ± std over the final seeds of each numeric clustering score."""
    from corel_jax.evaluate.stats import mean_std

    rows = stage.clustering
    if not rows:
        return []
    keys = [k for k in rows[0] if k not in ("run", "seed", "lam")
            and isinstance(rows[0][k], float)]
    return [{"metric": k, "mean": mean_std(r[k] for r in rows)[0],
             "std": mean_std(r[k] for r in rows)[1]} for k in keys]


# --------------------------------------------------------------------------- figures


def plot_curves_vs_paper(curves: dict[str, list[dict]], setting: str, path: Path,
                         title: str, paper_best: dict[str, float] | None = None) -> Path:
    """Our λ curves (solid) and the paper's digitised ones (dashed, same colour). For a loss
    whose paper curve is not compared here (held out), ``paper_best`` (its best validation
    accuracy at its tuned λ, %) is drawn as a dotted horizontal line: the level our curve is
    measured against.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    ys = []  # the values the y range must show
    for i, loss in enumerate(TUNED_LOSSES):
        color = f"C{i}"
        if loss in curves:
            c = [x for x in curves[loss] if math.isfinite(x["mean"])]
            lam = [x["lam"] for x in c]
            y = [100 * x["mean"] for x in c]
            ax.plot(lam, y, marker="o", ms=3.5, color=color, label=f"{loss} (ours)")
            # a collapsed λ stays in the table; the y range shows the rest of the curve (near
            # its best, not its median: half a Gaussian curve may sit at chance)
            ys += [v for v in y if v >= max(y) - 4]
        paper = paper_curve(setting, loss)
        if paper:
            lam = sorted(paper)
            y = [paper[k][0] for k in lam]
            ax.plot(lam, y, ls="--", marker="s", ms=3, mfc="none", color=color,
                    label=f"{loss} (paper)")
            ys += y
        elif paper_best and loss in paper_best:
            ax.axhline(paper_best[loss], ls=":", color=color,
                       label=f"{loss} (paper, at its tuned λ)")
            ys.append(paper_best[loss])
    if ys:
        ax.set_ylim(min(ys) - 0.3, max(ys) + 0.3)
    ax.set_xlabel("λ")
    ax.set_ylabel("best validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_gaussian_comparison(clean, original, path: Path, title: str) -> Path:
    """Both Gaussian λ curves in one figure; λ values with diverged runs are marked ×."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=120)
    ok = [c["mean"] * 100 for c in clean + original
          if math.isfinite(c["mean"]) and not c["diverged"]]
    bottom = min(ok) - 2 if ok else 0.0
    for curve, label, color in ((clean, CURVE_LABELS["gaussian"], "C2"),
                                (original, CURVE_LABELS[ORIGINAL], "C3")):
        lams = np.array([c["lam"] for c in curve])
        mean = np.array([c["mean"] for c in curve]) * 100
        ax.plot(lams, mean, marker="o", ms=4, color=color, label=label)
        div = np.array([c["diverged"] > 0 for c in curve])
        if div.any():
            ax.scatter(lams[div], np.maximum(mean[div], bottom), marker="x", s=80, color="k",
                       zorder=5, clip_on=False, label="diverged runs")
    ax.axvline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("λ")
    ax.set_ylabel("best validation accuracy (%)")
    if ok:
        ax.set_ylim(bottom, max(ok) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small", framealpha=0.9)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def gaussian_answer(clean, original) -> list[str]:
    """Data-driven sentences on the two Gaussian λ curves (peak, value at 0.5, λ > 0.5)."""
    lines = []
    for name, curve in (("clean", clean), ("original-code", original)):
        ok = [c for c in curve if math.isfinite(c["mean"])]
        if not ok:
            lines.append(f"- {name}: no finite runs.")
            continue
        best = max(ok, key=lambda c: (c["mean"], -c["lam"]))
        at = {round(c["lam"], 4): c for c in curve}
        s = f"- {name}: peak at λ = {best['lam']:g} ({100 * best['mean']:.2f} %)"
        if 0.5 in at and math.isfinite(at[0.5]["mean"]):
            s += f"; at λ = 0.5: {100 * at[0.5]['mean']:.2f} %"
        for side, sel in (("λ < 0.5", lambda c: c["lam"] < 0.5),
                          ("λ > 0.5", lambda c: c["lam"] > 0.5)):
            m = _finite(c["mean"] for c in curve if sel(c))
            nd = sum(c["diverged"] for c in curve if sel(c))
            if m.size:
                s += (f"; {side}: mean {100 * m.mean():.2f} % (min {100 * m.min():.2f} %)"
                      + (f", {nd} runs diverged" if nd else ""))
        lines.append(s + ".")
    return lines


# --------------------------------------------------------------------------- sections


def section_how_run(cfg: ReproConfig, stages: dict[str, Stage], command: str) -> list[str]:
    sizes = next((s.config.get("dataset_sizes") for s in stages.values()
                  if s.config.get("dataset_sizes")), {}) or {}
    md = ["## How it was run", "", "```bash", command, "```", ""]
    sw = cfg.sweep
    md += [f"- Protocol: λ sweep over {len(sw['lams'])} values ({sw['lams'][0]:g} … "
           f"{sw['lams'][-1]:g}) for center, cosine and gaussian, {len(sw['seeds'])} seed(s) "
           f"per λ, up to {sw['epochs']} epochs; CCE once; λ per loss = highest mean best "
           f"validation accuracy; then {len(cfg.final_seeds)} seeds × up to "
           f"{cfg.final_epochs} epochs at the selected λ for all four losses.",
           "- Early stopping: " + (
               f"patience {sw['patience']} epochs (min {sw['min_epochs']}); stages trained in "
               f"full (the patience measurement): {', '.join(cfg.full_stages) or 'none'}."
               if sw["patience"] else "none (every run trains all its epochs)."),
           f"- Model `{sw['model']}` (width {sw['width']}), Adam, lr {sw['lr']:g}, batch "
           f"{sw['batch_size']}, γ {sw['gamma']:g} "
           f"({'learned' if sw['learn_gamma'] else 'fixed'}); test accuracy at the best "
           f"validation epoch; {sizes.get('train', '?')} training, {sizes.get('val', '?')} "
           f"validation (split off the training set), {sizes.get('test', '?')} test examples.",
           "- As in the paper: up to 150 epochs, the λ grid, 10 final seeds, test accuracy at "
           "the best validation epoch. Our choices (the paper does not state them): the "
           "optimiser (Adam), batch size (128), learning rate, width, LeakyReLU slope, γ, the "
           "center loss's α, the validation size and draw, and the paired t-test.",
           f"- Reduced relative to the paper: {cfg.reduced or 'nothing (the paper protocol)'}.",
           hardware_line(stages), ""]
    return md


def hardware_line(stages: dict[str, Stage]) -> str:
    """The machines the stages recorded, each with the stages that ran on it.

    Stages of one setting may run on different machines (the work spans sessions), and the
    same seed gives different numbers on, e.g., AVX2 and AVX-512 CPUs, so a report names them
    all rather than the first."""
    machines: dict[str, list[str]] = {}
    for name, s in stages.items():
        hw = s.record.get("hardware")
        if not hw:
            continue
        simd = f" ({hw['simd']})" if hw.get("simd") else ""
        desc = (f"{hw.get('cpu_model', '?')}{simd}, {hw.get('cpus', '?')} CPU(s), "
                f"{hw.get('memory_gib', '?')} GiB RAM; JAX {hw.get('jax', '?')} "
                f"({hw.get('backend', '?')})")
        top = name.split("/")[0]
        if top not in machines.setdefault(desc, []):
            machines[desc].append(top)
    if not machines:
        return "- Hardware: not recorded by the stages."
    if len(machines) == 1:
        return f"- Hardware (as recorded by the stages): {next(iter(machines))}."
    return ("- Hardware (as recorded by the stages; it differed between them, and the same seed "
            "can give different numbers on different machines): "
            + "; ".join(f"{desc}: {', '.join(names)}" for desc, names in machines.items())
            + ".")


def _stage_row(name: str, r: dict) -> tuple[list[str], int]:
    """A row of the stages table, and the most run-epochs the stage could train."""
    full = r.get("max_run_epochs") or r["num_runs"] * r["sweep"]["epochs"]
    return [name, str(r["num_runs"]), str(r["sweep"]["epochs"]), f"{r['run_epochs']} of {full}",
            f"{r['wall_s'] / 60:.1f}", r.get("finished", "")], full


def section_stages(cfg: ReproConfig, stages: dict[str, Stage]) -> tuple[list[str], dict]:
    rows, wall, run_epochs, max_epochs = [], 0.0, 0, 0
    missing = []
    expected = expected_stages(cfg)
    for name in expected:
        s = stages.get(name)
        if s is None:
            parts = sorted(k for k in stages if k.startswith(name + "/"))
            missing.append(name + (f" ({len(parts)} parts done)" if parts else ""))
            continue
        row, full = _stage_row(name, s.record)
        rows.append(row)
        wall += s.record["wall_s"]
        run_epochs += s.record["run_epochs"]
        max_epochs += full
    header = ["stage", "runs", "epochs", "run-epochs", "wall min", "finished"]
    md = ["## Stages", "",
          "run-epochs = epochs trained summed over runs, of the most the stage could train "
          "(early stopping saves the difference); wall minutes on the hardware above, shared "
          "with other jobs at times.", ""]
    md.append(md_table(header, rows) if rows else "No stage has finished yet.")
    md.append("")
    if missing:
        md += ["Not yet run: " + ", ".join(missing) + ".", ""]
    # finished stages of other experiments in the same store (fixed_prototype_curves.py);
    # not in the totals, which are the reproduction's
    others = sorted(k for k in stages if "/" not in k and k not in expected)
    if others:
        md += ["Other experiments' stages in this store (not counted in the reproduction's "
               "totals):", "", md_table(header, [_stage_row(k, stages[k].record)[0]
                                                  for k in others]), ""]
    return md, {"wall_s": wall, "run_epochs": run_epochs, "max_run_epochs": max_epochs,
                "missing": missing}


def section_curves(cfg, curves: dict[str, list[dict]], lam_of, out: Path,
                   num_classes: int | None = None) -> list[str]:
    md = ["## λ curves (Figure 2) beside the paper's", "",
          "Best validation accuracy (%) per λ: ours (mean over the sweep's seeds, @ best "
          "epoch; † = runs diverged) and the paper's (digitised from its supplementary Figure 1, "
          "±0.01 points; ~ = partly hidden marker; < = below the plotted range); **bold** = our "
          "selected λ.", ""]
    names = [k for k in (*TUNED_LOSSES, ORIGINAL) if k in curves]
    papers = [k for k in TUNED_LOSSES if paper_curve(cfg.setting, k)]
    if not names:
        return md + ["No λ sweep has finished yet.", ""]
    lams = sorted({c["lam"] for k in names for c in curves[k]})
    rows = []
    for lam in lams:
        row = [f"{lam:g}"]
        for k in names:
            c = next((c for c in curves[k] if c["lam"] == lam), None)
            if c is None:
                row.append("")
                continue
            cell = _pct(c["mean"])
            if len(c["best_epochs"]) == 1:
                cell += f" @{c['best_epochs'][0]}"
            if c["diverged"]:
                cell += f" †{c['diverged']}/{c['n']}"
            row.append(f"**{cell}**" if lam_of.get(k) == lam else cell)
        for k in papers:
            v, note = paper_curve(cfg.setting, k).get(lam, (None, ""))
            row.append("" if v is None else f"{note if note == '<' else ''}{v:.2f}"
                       f"{'~' if note == '~' else ''}")
        rows.append(row)
    md.append(md_table(["λ"] + [f"{CURVE_LABELS[k]}" for k in names]
                       + [f"{k} (paper)" for k in papers], rows))
    md.append("")
    if "cce" in curves and curves["cce"]:
        md += [f"CCE (no λ): {_pct(curves['cce'][0]['mean'])} % in the sweep.", ""]
    paper_best = paper_best_val(cfg.setting)
    unplotted = [k for k in TUNED_LOSSES if k not in papers and k in paper_best]
    if unplotted:
        md += ["The figure gives no curve for " + ", ".join(unplotted) + " from the paper on "
               "this setting: the paper's curves for it are not compared here (its "
               "supplementary figure has all six settings; this project holds three of them out "
               "as a check on its explanations). The figure marks the paper's best validation "
               "accuracy at its tuned λ instead (dotted: " + ", ".join(
                   f"{k} {paper_best[k]:.2f} %" for k in unplotted) + ").", ""]
    diffs = []
    # λ where our runs ended at chance (within 2 points of 100/K: the loss ran away, e.g.
    # Gaussian below λ = 0.5) are counted apart, so the median describes the curve itself
    chance = None if not num_classes else 100 / num_classes + 2
    for k in papers:
        if k not in curves:
            continue
        p = paper_curve(cfg.setting, k)
        pairs = [(100 * c["mean"], p[c["lam"]][0]) for c in curves[k]
                 if c["lam"] in p and math.isfinite(c["mean"]) and p[c["lam"]][1] != "<"]
        d = [ours - theirs for ours, theirs in pairs if chance is None or ours > chance]
        at_chance = len(pairs) - len(d)
        if d:
            diffs.append(f"{k}: ours − paper from {min(d):+.2f} to {max(d):+.2f} points "
                         f"(median {np.median(d):+.2f}) over {len(d)} λ"
                         + (f" ({at_chance} λ where ours is at chance left out)"
                            if at_chance else ""))
        elif at_chance:
            diffs.append(f"{k}: ours at chance at all {at_chance} λ")
    if diffs:
        md += ["Differences: " + "; ".join(diffs) + ".", ""]
    fig = "fig2_lambda_vs_paper.png"
    plot_curves_vs_paper(curves, cfg.setting, out / fig,
                         f"{cfg.setting} ({cfg.profile}): λ sweep vs the paper",
                         paper_best={k: paper_best[k] for k in unplotted})
    md += [f"![λ curves vs the paper]({fig})", ""]
    return md


def paper_comparison(cfg, curves, lam_of, finals: dict[str, dict]) -> dict[str, Any]:
    """Both comparisons with the paper's best validation accuracy at its tuned λ, per loss the
    paper gives a number for: our final seeds' mean (the level without selection) and our
    single sweep run at our selected λ (the paper's kind of number: one run, the best of the
    λ grid), each as ours − paper in points, with how many rows are within ±``GAP``.

    A difference counts as within when its value rounded to the 2 decimals the report prints
    is at most ``GAP`` in magnitude, so a reader can recount it from the table."""
    paper = paper_best_val(cfg.setting)
    rows = []
    for loss in ALL_LOSSES:
        p = paper.get(loss)
        if p is None:
            continue
        sweep_at = next((c for c in curves.get(loss, []) if c["lam"] == lam_of.get(loss)),
                        None)
        f = finals.get(loss)
        mean = f["best_val_mean"] if f else None
        run = sweep_at["mean"] if sweep_at else None
        d_mean = None if mean is None or not math.isfinite(mean) else 100 * mean - p
        d_run = None if run is None or not math.isfinite(run) else 100 * run - p
        rows.append({"loss": loss, "lam": lam_of.get(loss), "paper": p,
                     "final_mean": mean, "final_std": f["best_val_std"] if f else None,
                     "final_n": f["n"] if f else 0, "diff_mean": d_mean,
                     "sweep_run": run, "sweep_n": sweep_at["n"] if sweep_at else 0,
                     "diff_sweep_run": d_run})

    def within(key):
        ds = [r[key] for r in rows if r[key] is not None]
        return {"within": sum(abs(round(d, 2)) <= GAP for d in ds), "rows": len(ds)}

    return {"gap": GAP, "rows": rows, "mean": within("diff_mean"),
            "sweep_run": within("diff_sweep_run")}


def section_tuned(cfg, curves, lam_of, finals: dict[str, dict]) -> tuple[list[str], dict]:
    cmp = paper_comparison(cfg, curves, lam_of, finals)
    md = ["## Tuned λ and best validation accuracy vs the paper", "",
          "The paper's number (its best validation accuracy at its tuned λ, supplement) is one "
          "run at the λ it selected, the best of its λ grid. Two comparisons with it, for every "
          "loss it gives a number for: (a) our final seeds' mean at our selected λ, the level "
          "without that selection; (b) our single sweep run at our selected λ, the best of our "
          "λ grid, the same kind of number as the paper's (it carries the same upward draw). "
          "Differences are ours − paper, in points.", ""]
    rows = []
    sweep_of = {loss: next((c for c in curves.get(loss, []) if c["lam"] == lam_of.get(loss)),
                           None) for loss in ALL_LOSSES}
    by_loss = {r["loss"]: r for r in cmp["rows"]}

    def d(x):
        return "—" if x is None else f"{x:+.2f}"

    def ok(x):
        return "—" if x is None else ("yes" if abs(round(x, 2)) <= GAP else "**no**")

    for loss in ALL_LOSSES:
        s, f, r = sweep_of[loss], finals.get(loss), by_loss.get(loss)
        sweep_cell = "not yet" if s is None else _pct(s["mean"]) + (
            "" if s["n"] == 1 else f" (mean of {s['n']})")
        rows.append([loss, "—" if loss == "cce" or loss not in lam_of else f"{lam_of[loss]:g}",
                     f"{_pct(f['best_val_mean'], f['best_val_std'])} ({f['n']})"
                     if f else "not yet",
                     d(r and r["diff_mean"]), ok(r and r["diff_mean"]), sweep_cell,
                     d(r and r["diff_sweep_run"]), ok(r and r["diff_sweep_run"]),
                     "—" if r is None else f"{r['paper']:.2f}"])
    md.append(md_table(["loss", "our λ", "(a) ours, final seeds: mean ± std (seeds)",
                        "(a) − paper", f"(a) within ±{GAP}?", "(b) ours, sweep run",
                        "(b) − paper", f"(b) within ±{GAP}?", "paper"], rows))
    md.append("")
    if cmp["rows"]:
        md += [f"Within ±{GAP} points of the paper: (a) final seeds' mean "
               f"{cmp['mean']['within']} of {cmp['mean']['rows']} rows; (b) single sweep "
               f"run {cmp['sweep_run']['within']} of {cmp['sweep_run']['rows']} rows"
               + (f" (of {len(cmp['rows'])} rows the paper gives a number for; the others "
                  "have not run yet)" if min(cmp["mean"]["rows"], cmp["sweep_run"]["rows"])
                  < len(cmp["rows"]) else "") + ".", ""]
    return md, cmp


def section_finals(finals: dict[str, dict], tests: list[dict]) -> list[str]:
    if not finals:
        return ["## Test accuracy (Table 2)", "", "The final runs have not run yet.", ""]
    md = ["## Test accuracy (Table 2)", "",
          "Test accuracy (%) at each run's best validation epoch, mean ± std over the final "
          f"seeds; epochs = the most each run trains (its stage's config; the paper: "
          f"{PAPER_EPOCHS}).", ""]
    rows = [[CURVE_LABELS.get(k, k), "—" if k == "cce" else f"{f['lam']:g}", str(f["n"]),
             "?" if f.get("epochs") is None else str(f["epochs"]),
             _pct(f["test_mean"], f["test_std"]), _pct(f["best_val_mean"], f["best_val_std"]),
             f"{int(np.median(f['best_epochs']))}"] for k, f in finals.items()]
    md.append(md_table(["loss", "λ", "seeds", f"epochs (paper {PAPER_EPOCHS})", "test acc",
                        "best val acc", "median best epoch"], rows))
    md += ["", "Paired two-tailed t-tests on test accuracy, paired by seed (our choice of "
           "test: the paper does not state it; * p < 0.05, ** p < 0.01, marked when the first "
           "loss is better):", ""]
    md.append(md_table(["test", "loss", "against", "mean diff (points)", "t", "p", "seeds",
                        "marker"],
                       [[t["kind"], t["loss"], t["against"], f"{100 * t['mean_diff']:+.2f}",
                         f"{t['t']:.2f}", f"{t['p']:.3g}", str(t["n"]), t["marker"] or "—"]
                        for t in tests]))
    return md + [""]


def section_clustering(final_stages: dict[str, Stage]) -> list[str]:
    rows = []
    for loss, s in final_stages.items():
        for c in clustering_summary(s):
            if c["metric"].endswith(("acc", "ari", "v_measure", "agreement")):
                rows.append([CURVE_LABELS.get(loss, loss), c["metric"],
                             fmt(c["mean"], c["std"])])
    if not rows:
        return []
    return ["## Clustering of test representations (Tables 3–4)", "",
            "Scores of each final run's test representations (computed when the stage was "
            "stored), mean ± std over seeds.", "",
            md_table(["loss", "score", "mean ± std"], rows), ""]


def section_run_dir_figures(runs_root: Path | None, final_stages, out: Path, log) -> list[str]:
    """PCA and validation-curve figures of the final runs, from their run directories."""
    if runs_root is None:
        return []
    # the four losses only: the evaluator groups runs by loss, and the Gaussian variants
    # (original code, learned γ) would repeat gaussian's seeds
    dirs = [Path(runs_root) / f"final-{k}" for k in final_stages if k in ALL_LOSSES]
    dirs = [d for d in dirs if (d / "runs").is_dir()]
    if not dirs:
        return []
    from corel_jax.evaluate import ReportOptions, write_report

    ev = out / "evaluator"
    # Without clustering: every final run's scores were computed when its stage was stored
    # (clustering.csv, the section above); clustering them again here cost as much again.
    write_report(dirs, ev, ReportOptions(clustering=False), progress=log)
    figs = sorted(p.name for p in ev.glob("*.png") if "lambda" not in p.name)
    return ["## Figures of the final runs", "",
            "From the run directories on the machine that trained them "
            "(`evaluator/report.md` holds the evaluator's accuracy tables and t-tests; the "
            "clustering scores are the stages', above).", ""] + \
        sum(([f"![{f}](evaluator/{f})", ""] for f in figs), [])


# --------------------------------------------------------------------------- fixed prototypes


def fixed_prototype_curves(stages: dict[str, Stage]) -> dict[str, dict[str, Any]]:
    """The fixed-prototype λ curves of ``experiments/fixed_prototype_curves.py`` in the store,
    per loss (``cosine``, ``gaussian``): the merged ``curve-<loss>_fixed_w`` stage when it
    exists (``complete``), else the runs of its parts committed so far (``part-XofY``)."""
    out = {}
    for loss in FIXED_LOSSES:
        name = f"curve-{loss}_fixed_w"
        parts = sorted(k for k in stages if k.startswith(name + "/part-"))
        if name in stages:
            s = stages[name]
            out[loss] = {"stage": name, "complete": True, "runs": s.runs,
                         "parts": list(s.record.get("parts") or []),
                         "total_parts": len(s.record.get("parts") or []) or None,
                         "epochs": s.config.get("epochs"), "wall_s": s.record.get("wall_s")}
        elif parts:
            totals = {int(k.rsplit("of", 1)[1]) for k in parts}
            out[loss] = {"stage": name, "complete": False,
                         "runs": [r for k in parts for r in stages[k].runs],
                         "parts": [k.split("/", 1)[1] for k in parts],
                         "total_parts": max(totals),
                         "epochs": stages[parts[0]].config.get("epochs"),
                         "wall_s": sum(stages[k].record.get("wall_s", 0.0) for k in parts)}
    return out


def curve_vs_paper(curve: list[dict], paper: dict[float, tuple[float, str]]
                   ) -> dict[str, Any]:
    """One of our λ curves against the paper's digitised one, over the λ both give (a paper
    marker below its plotted range, note ``"<"``, is an upper bound and left out):

    - ``mad``: mean absolute difference, |ours − paper| in points, averaged over those λ;
    - ``failed``: the λ where ours is more than ``FAIL_GAP`` points below the paper's (a
      collapse, or a run that sat at chance);
    - ``offset``: the median of ours − paper over the other λ (the level difference);
    - ``shape_mad``: the mean of |ours − paper − offset| over those λ (the shape alone);
    - ``off_shape``: the λ, of those, where |ours − paper − offset| > ``SHAPE_GAP`` points.
    """
    at = {c["lam"]: 100 * c["mean"] for c in curve if math.isfinite(c["mean"])}
    lams = [lam for lam in sorted(paper) if lam in at and paper[lam][1] != "<"]
    low = [lam for lam in lams if at[lam] < paper[lam][0] - FAIL_GAP]
    rest = [lam for lam in lams if lam not in low]
    out: dict[str, Any] = {"n": len(lams), "lams": lams, "failed": low, "mad": None,
                           "offset": None, "shape_mad": None, "off_shape": []}
    if lams:
        out["mad"] = float(np.mean([abs(at[lam] - paper[lam][0]) for lam in lams]))
    if rest:
        d = np.array([at[lam] - paper[lam][0] for lam in rest])
        offset = float(np.median(d))
        out.update(offset=offset, shape_mad=float(np.abs(d - offset).mean()),
                   off_shape=[lam for lam, x in zip(rest, d) if abs(x - offset) > SHAPE_GAP])
    return out


def _parts(e: dict[str, Any]) -> str:
    """``"parts 1, 2 of 5"`` (``"part 1 of 5"``) of a fixed-prototype curve's entry."""
    return (f"part{'s' * (len(e['parts']) > 1)} {e['parts_done']} of {e['total_parts']}")


def _lams(lams) -> str:
    """λ values as a short list, runs of consecutive grid values as ``a–b``."""
    lams = sorted(lams)
    if not lams:
        return "none"
    step = min((b - a for a, b in zip(lams, lams[1:])), default=None)
    runs, start = [], lams[0]
    for a, b in zip(lams, lams[1:] + [None]):
        if b is None or step is None or abs(b - a - step) > 1e-9:
            runs.append(f"{start:g}" if a == start else
                        f"{start:g}, {a:g}" if abs(a - start - step) < 1e-9 else
                        f"{start:g}–{a:g}")
            start = b
    return ", ".join(runs)


def fall_at_large_lambda(curve: dict[float, float], from_lam: float = 0.9) -> float | None:
    """Points from a curve's peak (over all λ) to its lowest value at λ ≥ ``from_lam``."""
    big = [v for lam, v in curve.items() if lam >= from_lam - 1e-9]
    return max(curve.values()) - min(big) if big else None


def best_and_last(runs: list[dict[str, Any]], from_lam: float = 0.9
                  ) -> dict[float, tuple[float, list[int], float | None]]:
    """Per λ ≥ ``from_lam``: the mean best validation accuracy (%), the best epochs, and the
    mean validation accuracy at each run's last epoch (%; None where a run lacks it). A run
    that peaks and then falls has delayed a collapse, not removed it: the claims discipline
    asks for both numbers."""
    out = {}
    for lam in sorted({float(r["lam"]) for r in runs}):
        if lam < from_lam - 1e-9:
            continue
        rs = [r for r in runs if float(r["lam"]) == lam]
        last = ([r["final_val_acc"] for r in rs]
                if all(r.get("final_val_acc") is not None for r in rs) else None)
        out[lam] = (100 * float(np.mean([r["best_val_acc"] for r in rs])),
                    sorted(int(r["best_epoch"]) for r in rs),
                    None if last is None else 100 * float(np.mean(last)))
    return out


def plot_fixed_prototypes(variants: dict[str, dict[str, dict[float, float]]], path: Path,
                          title: str) -> Path:
    """Per loss a panel: trained prototypes (solid), fixed (solid, other colour), the paper's
    curve (dashed, when given). A value more than 5 points under a curve's best is drawn at the
    panel's lower edge (▼): the collapses stay visible without flattening the rest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = list(variants)
    fig, axes = plt.subplots(1, len(losses), figsize=(5.2 * len(losses), 4.0), dpi=120,
                             squeeze=False)
    styles = {"trained": dict(color="C0", marker="o", ls="-"),
              "fixed": dict(color="C1", marker="s", ls="-"),
              "paper": dict(color="k", marker="^", ls="--", mfc="none")}
    labels = {"trained": "trained W (ours)", "fixed": "fixed W (ours)", "paper": "paper"}
    for ax, loss in zip(axes[0], losses):
        curves = {k: v for k, v in variants[loss].items() if v}
        keep = [v for c in curves.values() for v in c.values()
                if v >= max(c.values()) - 5]
        lo, hi = min(keep) - 0.3, max(keep) + 0.3
        for k, c in curves.items():
            lam = sorted(c)
            y = np.array([c[x] for x in lam])
            ax.plot(lam, np.maximum(y, lo), ms=3.5, label=labels[k], **styles[k])
            low = y < lo
            if low.any():
                ax.scatter(np.array(lam)[low], np.full(low.sum(), lo), marker="v",
                           s=80 if k == "trained" else 35,
                           color=styles[k]["color"], zorder=5, clip_on=False)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("λ")
        ax.set_ylabel("best validation accuracy (%)")
        ax.set_title(f"{loss}-COREL")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title + " (▼ = below the panel)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def section_fixed_prototypes(cfg, stages: dict[str, Stage], curves: dict[str, list[dict]],
                             out: Path) -> tuple[list[str], dict[str, Any]]:
    """Trained-prototype λ curves (the sweeps) beside the fixed-prototype ones
    (:func:`fixed_prototype_curves`) and the paper's, with each variant's mean absolute
    difference from the paper's curve; a curve with parts missing is shown for the λ it has,
    and nothing is computed from it."""
    fixed = fixed_prototype_curves(stages)
    if not fixed:
        return [], {}
    md = ["## Fixed prototypes (large-λ hypothesis)", "",
          "The hypothesis (issue #35): the large-λ collapse of Cosine- and Gaussian-COREL comes "
          "from training the prototypes `W`; with `W` left at its random init "
          "(`corel_jax.loss_spec.fixed_prototypes`) it does not occur. The fixed-prototype "
          "curve is the trained curve's stage (`sweep-<loss>`) with only the loss changed "
          "(`experiments/fixed_prototype_curves.py`): same λ grid, seed, epochs and early "
          "stopping. Best validation accuracy (%) per λ, @ best epoch, † = runs diverged; the "
          "paper's curve as in the λ table above.", ""]
    numbers: dict[str, Any] = {}
    variants: dict[str, dict[str, dict[float, float]]] = {}
    for loss in FIXED_LOSSES:
        if loss not in fixed:
            continue
        f = fixed[loss]
        fc = sweep_curve(f["runs"])
        trained = curves.get(loss, [])
        paper = paper_curve(cfg.setting, loss)
        lams_fixed = [c["lam"] for c in fc]
        done = ", ".join(x.split("of")[0].removeprefix("part-") for x in f["parts"])
        status = (f"complete ({len(fc)} λ, merged from {len(f['parts'])} parts)"
                  if f["complete"] else
                  f"**incomplete**: {'parts' if len(f['parts']) > 1 else 'part'} {done} of "
                  f"{f['total_parts']} committed (λ "
                  f"{lams_fixed[0]:g}–{lams_fixed[-1]:g}), the rest still to run; its λ "
                  "are shown, and no difference from the paper is computed from it")
        md.append(f"- `{f['stage']}`: {status}; {len(f['runs'])} runs, up to {f['epochs']} "
                  f"epochs each; wall {f['wall_s'] / 60:.0f} min as recorded.")
        entry = {"stage": f["stage"], "complete": f["complete"], "parts": f["parts"],
                 "total_parts": f["total_parts"], "parts_done": done, "fixed_curve": fc,
                 "paper_curve": {str(k): v[0] for k, v in paper.items()}}
        if trained:
            entry["trained"] = curve_vs_paper(trained, paper) if paper else None
        if f["complete"]:
            entry["fixed"] = curve_vs_paper(fc, paper) if paper else None
            tr = {c["lam"]: 100 * c["mean"] for c in trained if math.isfinite(c["mean"])}
            fx = {c["lam"]: 100 * c["mean"] for c in fc if math.isfinite(c["mean"])}
            pp = {lam: v for lam, (v, note) in paper.items() if note != "<"}
            entry["fall_from_0.9"] = {k: fall_at_large_lambda(c) if c else None
                                      for k, c in (("trained", tr), ("fixed", fx),
                                                   ("paper", pp))}
            # best and last epoch per λ: the last for every λ, both at large λ (the table)
            bl = best_and_last(f["runs"], from_lam=0.0)
            entry["fixed_last_epoch"] = ({str(lam): x[2] for lam, x in bl.items()}
                                         if all(x[2] is not None for x in bl.values()) else {})
            if f"sweep-{loss}" in stages:
                entry["large_lambda_best_last"] = {
                    "trained": best_and_last(stages[f"sweep-{loss}"].runs),
                    "fixed": {lam: x for lam, x in bl.items() if lam >= 0.9 - 1e-9}}
        numbers[loss] = entry
        variants[loss] = {"trained": {c["lam"]: 100 * c["mean"] for c in trained
                                      if math.isfinite(c["mean"])},
                          "fixed": {c["lam"]: 100 * c["mean"] for c in fc
                                    if math.isfinite(c["mean"])},
                          "paper": {lam: v for lam, (v, _) in paper.items()}}
    md.append("")

    def cell(c):
        if c is None:
            return ""
        x = _pct(c["mean"])
        if len(c["best_epochs"]) == 1:
            x += f" @{c['best_epochs'][0]}"
        return x + (f" †{c['diverged']}/{c['n']}" if c["diverged"] else "")

    losses = list(numbers)
    lams = sorted({c["lam"] for k in losses for c in curves.get(k, [])}
                  | {c["lam"] for k in losses for c in numbers[k]["fixed_curve"]})
    header, rows = ["λ"], []
    for k in losses:
        header += [f"{k}, trained W", f"{k}, fixed W"] + (
            [f"{k} (paper)"] if paper_curve(cfg.setting, k) else [])
    for lam in lams:
        row = [f"{lam:g}"]
        for k in losses:
            row.append(cell(next((c for c in curves.get(k, []) if c["lam"] == lam), None)))
            row.append(cell(next((c for c in numbers[k]["fixed_curve"] if c["lam"] == lam),
                                 None)))
            p = paper_curve(cfg.setting, k)
            if p:
                v, note = p.get(lam, (None, ""))
                row.append("" if v is None else f"{note if note == '<' else ''}{v:.2f}"
                           f"{'~' if note == '~' else ''}")
        rows.append(row)
    md += [md_table(header, rows), ""]

    fig = "fig_fixed_prototypes.png"
    plot_fixed_prototypes(variants, out / fig,
                          f"{cfg.setting} ({cfg.profile}): trained vs fixed prototypes")
    md += [f"![trained vs fixed prototypes]({fig})", ""]

    def pts(x):
        return "—" if x is None else f"{x:.2f}"

    cmp_rows, sentences = [], []
    for k in losses:
        e = numbers[k]
        if not paper_curve(cfg.setting, k):
            s = f"- {k}: the paper's curve for this setting is not compared here (held out)."
            fall = e.get("fall_from_0.9") or {}
            if e["complete"] and fall.get("trained") is not None \
                    and fall.get("fixed") is not None:
                v = variants[k]
                low = {w: [lam for lam, x in v[w].items() if x < max(v[w].values()) - FAIL_GAP]
                       for w in ("trained", "fixed")}
                at = {w: f"at λ {_lams(ls)}" if ls else "at no λ" for w, ls in low.items()}
                s += (f" From its peak to its lowest value at λ ≥ 0.9 our curve falls "
                      f"{fall['trained']:.2f} points with trained prototypes and "
                      f"{fall['fixed']:.2f} with fixed ones. It is more than {FAIL_GAP:g} "
                      f"points below its own peak {at['trained']} with trained prototypes and "
                      f"{at['fixed']} with fixed ones.")
            elif not e["complete"]:
                s += f" The fixed-prototype curve is incomplete ({_parts(e)} committed)."
            sentences.append(s)
            continue
        for variant in ("trained", "fixed"):
            c = e.get(variant)
            if variant == "fixed" and not e["complete"]:
                cmp_rows.append([k, "fixed W", "not computed: curve incomplete", "", "", "",
                                 ""])
                continue
            if not c or not c["n"]:
                cmp_rows.append([k, f"{variant} W", "—", "", "", "", ""])
                continue
            cmp_rows.append([k, f"{variant} W", f"{pts(c['mad'])} ({c['n']} λ)",
                             _lams(c["failed"]),
                             "—" if c["offset"] is None else f"{c['offset']:+.2f}",
                             pts(c["shape_mad"]), _lams(c["off_shape"])])
        if not e["complete"]:
            sentences.append(f"- {k}: the fixed-prototype curve is incomplete "
                             f"({_parts(e)} committed); no "
                             "comparison is drawn from it yet.")
            continue
        t, f = e.get("trained"), e.get("fixed")
        if not (t and f and t["n"] and f["n"]):
            continue
        closer = "fixed" if f["mad"] < t["mad"] else "trained"
        s = (f"- {k}: {closer} prototypes are closer to the paper's curve (mean absolute "
             f"difference over the λ compared: fixed {pts(f['mad'])}, trained "
             f"{pts(t['mad'])} points).")
        if f["shape_mad"] is not None and t["shape_mad"] is not None:
            shape = "fixed" if f["shape_mad"] < t["shape_mad"] else "trained"
            s += (f" With each curve's level difference removed, over the λ where it does "
                  f"not fail ({f['n'] - len(f['failed'])} fixed, {t['n'] - len(t['failed'])} "
                  f"trained), the {shape} variant's shape is closer (shape MAD fixed "
                  f"{pts(f['shape_mad'])}, trained {pts(t['shape_mad'])}).")
        off = {v: set(c["failed"]) | set(c["off_shape"]) for v, c in (("trained", t),
                                                                         ("fixed", f))}
        neither = sorted(off["trained"] & off["fixed"])
        only = {v: sorted(off[v] - off[w]) for v, w in (("trained", "fixed"),
                                                        ("fixed", "trained"))}
        for v in ("trained", "fixed"):
            if only[v]:
                s += (f" Only the {v} variant leaves the paper's shape (fails, or is more "
                      f"than {SHAPE_GAP:g} point off it) at λ {_lams(only[v])}.")
        s += (f" Neither follows it at λ {_lams(neither)}." if neither else
              " At every λ compared at least one variant follows it.")
        if neither:
            rest = [lam for lam in t["lams"] if lam in f["lams"] and lam not in neither]
            pv = variants[k]["paper"]
            e["mad_elsewhere"] = {"lams": rest, **{
                v: float(np.mean([abs(variants[k][v][lam] - pv[lam]) for lam in rest]))
                for v in ("trained", "fixed")}} if rest else None
            if rest:
                m = e["mad_elsewhere"]
                s += (f" Over the other {len(rest)} λ the mean absolute difference is fixed "
                      f"{pts(m['fixed'])}, trained {pts(m['trained'])} points.")
        fall = e["fall_from_0.9"]
        if all(fall[v] is not None for v in fall):
            s += (f" From its peak to its lowest value at λ ≥ 0.9 the paper's curve falls "
                  f"{fall['paper']:.2f} points, ours with trained prototypes "
                  f"{fall['trained']:.2f} and with fixed prototypes {fall['fixed']:.2f}.")
        sentences.append(s)
    if cmp_rows:
        md += ["Against the paper's curve (points; MAD = mean |ours − paper| over the λ both "
               "give, a paper marker below its plotted range left out; fails = more than "
               f"{FAIL_GAP:g} points below the paper's (a collapse, or at chance); offset = "
               "median of ours − paper over the other λ; shape MAD = mean |ours − paper − "
               "offset| over them; off the shape = where that exceeds "
               f"{SHAPE_GAP:g} point):", "",
               md_table(["loss", "prototypes", "MAD", "λ where ours fails", "offset",
                         "shape MAD",
                         "λ off the shape"], cmp_rows), ""]
    large = [(k, v, b) for k in losses
             for v, b in numbers[k].get("large_lambda_best_last", {}).items()]
    if large:
        lams_large = sorted({lam for _, _, b in large for lam in b})

        def best_last(x):
            if x is None:
                return ""
            best, ep, last = x
            return (f"{best:.2f} ({', '.join(map(str, ep))}), "
                    + ("—" if last is None else f"{last:.2f}"))

        md += ["At large λ, best validation accuracy (best epoch), then the last epoch's (a "
               "run that peaks and then falls has delayed a collapse, not removed it):", "",
               md_table(["loss", "prototypes"] + [f"λ {lam:g}" for lam in lams_large],
                        [[k, f"{v} W"] + [best_last(b.get(lam)) for lam in lams_large]
                         for k, v, b in large]), ""]
    md += sentences + ["", "One seed per λ: indicative (one seed) in the sense of "
                       "`experiments/README.md`'s claims discipline.", ""]
    return md, numbers


# --------------------------------------------------------------------------- the report


def write(cfg: ReproConfig, *, store: Path, out: Path, command: str,
          runs_root: Path | None = None, log=print) -> dict[str, Any]:
    """Writes ``out/report.md``, ``lambda_sweep.csv``, the figures and ``results.json`` from
    the stages finished in ``store``; returns the numbers."""
    from corel_jax import rundir
    from corel_jax.evaluate import select_lambda

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stages = load_stages(store)
    sweeps = {n[len("sweep-"):]: s for n, s in stages.items()
              if n.startswith("sweep-") and "/" not in n}
    final_stages = {n[len("final-"):]: s for n, s in stages.items() if n.startswith("final-")}
    final_stages = {k: final_stages[k] for k in (*ALL_LOSSES, ORIGINAL, LEARNED)
                    if k in final_stages}
    curves = {loss: sweep_curve(s.runs) for loss, s in sweeps.items()}
    lam_of = {loss: select_lambda(s.runs) for loss, s in sweeps.items()}
    paper = paper_best_val(cfg.setting)
    finals = {k: final_summary(s, paper.get(k)) for k, s in final_stages.items()}
    tests = ttests({k: s for k, s in final_stages.items() if k in ALL_LOSSES})

    rows = [{"loss": loss, "lam": c["lam"], "mean_best_val_acc": c["mean"],
             "std_best_val_acc": c["std"], "n": c["n"], "diverged": c["diverged"],
             "mean_test_acc": c["test_mean"],
             "paper_best_val_acc": paper_curve(cfg.setting, loss).get(c["lam"], (None,))[0],
             "selected": lam_of.get(loss) == c["lam"]}
            for loss, curve in curves.items() for c in curve]
    if rows:
        rundir.write_csv(out / "lambda_sweep.csv", rows, list(rows[0]))

    md = [f"# Reproduction: {cfg.setting}, profile `{cfg.profile}`", "",
          "Kenyon-Dean et al., *Clustering-Oriented Representation Learning with "
          "Attractive-Repulsive Loss* (arXiv:1812.07627), with corel-jax. Generated by "
          "`experiments/report_repro.py` from the stage store "
          f"`{_rel(store)}` (in git).", ""]
    md += section_how_run(cfg, stages, command)
    stage_md, totals = section_stages(cfg, stages)
    md += stage_md
    num_classes = next((s.config.get("num_classes") for s in stages.values()), None)
    md += section_curves(cfg, curves, lam_of, out, num_classes)
    tuned_md, comparison = section_tuned(cfg, curves, lam_of, finals)
    md += tuned_md
    md += section_finals(finals, tests)
    md += section_clustering(final_stages)
    if "gaussian" in curves and ORIGINAL in curves:
        fig = "fig_gaussian_original.png"
        plot_gaussian_comparison(curves["gaussian"], curves[ORIGINAL], out / fig,
                                 f"{cfg.setting} ({cfg.profile}): Gaussian-COREL λ curves")
        md += ["## Open question: the Gaussian peak at λ = 0.5", "",
               "The original PyTorch code (kiankd/corel2019, `corel/loss_functions.py`, "
               "`GaussianARLoss`) computes Gaussian-COREL as CCE on the Gaussian logits at "
               "exactly λ = 0.5, and at every other λ as "
               "`λ²·γ‖h−w_y‖² + (1−λ)²·log(Σ_j exp(−γ‖h−w_j‖²) + 1e-10)`; "
               "`experiments/gaussian_original.py` trains it on the same grid and seeds.", "",
               f"![Gaussian λ curves]({fig})", ""]
        md += gaussian_answer(curves["gaussian"], curves[ORIGINAL]) + [""]
    fixed_md, fixed_numbers = section_fixed_prototypes(cfg, stages, curves, out)
    md += fixed_md
    md += section_run_dir_figures(runs_root, final_stages, out, log)
    disc = out / "discussion.md"
    if disc.is_file():
        md += ["## Discussion", "", disc.read_text().strip(), ""]
    rundir.write_text(out / "report.md", "\n".join(md))
    results = {"setting": cfg.setting, "profile": cfg.profile, "command": command,
               "config": dataclasses.asdict(cfg), "lam_of": lam_of, "final": finals,
               "ttests": tests, "paper_best_val": paper, "paper_comparison": comparison,
               "curves": curves,
               **({"fixed_prototypes": fixed_numbers} if fixed_numbers else {}),
               # the most each run of a stage trains, from the stage's config
               "epochs": {k: s.config.get("epochs") for k, s in stages.items()
                          if "/" not in k},
               "stages": {k: {kk: s.record[kk] for kk in ("wall_s", "num_runs", "run_epochs",
                                                          "max_run_epochs", "finished")
                              if kk in s.record} for k, s in stages.items()},
               "totals": totals, "report_s": round(time.perf_counter() - t0, 1)}
    rundir.write_json(out / "results.json", results)
    log(f"[report] wrote {out / 'report.md'}")
    return results


def _rel(p: Path) -> str:
    """``p`` relative to the git checkout that holds it (else to this script's): the same
    text whether the report is written by the checkout's code or by a snapshot of it run
    elsewhere (the background queues run one, see fixed_prototype_curves.py)."""
    p = Path(p).resolve()
    roots = [a for a in p.parents if (a / ".git").exists()][:1] + [HERE.parent]
    for root in roots:
        if p.is_relative_to(root):
            return p.relative_to(root).as_posix()
    return str(p)


def rerun_command(setting: str, profile: str) -> str:
    """The command a report names as the one that makes its stages (and it)."""
    return (f"python experiments/reproduce.py --setting {setting} --profile {profile} "
            f"--data-dir DATA --commit")


def default_out(setting: str, profile: str) -> Path:
    """Where a profile's report goes: ``results/<setting>`` for the cpu profile (its reports
    were committed there first), ``results/<setting>/<profile>`` for any other."""
    base = HERE / "results" / setting
    return base if profile == "cpu" else base / profile


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", required=True)
    p.add_argument("--profile", default="paper")
    p.add_argument("--store", type=Path, default=None,
                   help="stage store (default experiments/results/<setting>/<profile>/stages)")
    p.add_argument("--out", type=Path, default=None,
                   help="report folder (default: see default_out)")
    p.add_argument("--runs", type=Path, default=None,
                   help="run directories of the final stages, for their figures (optional)")
    args = p.parse_args(argv)
    cfg = get_config(args.setting, args.profile)
    store = args.store or HERE / "results" / args.setting / args.profile / "stages"
    if not store.is_dir():
        p.error(f"no stage store at {store}; run experiments/reproduce.py first")
    write(cfg, store=store, out=args.out or default_out(args.setting, args.profile),
          command=rerun_command(args.setting, args.profile), runs_root=args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
