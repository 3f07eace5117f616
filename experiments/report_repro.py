"""The report of one reproduction (``experiments/reproduce.py``): ``report.md`` and friends.

It wraps the evaluator (:func:`corel_jax.evaluate.write_report` on the final 10-seed runs:
Table 2, Tables 3-4, Figure 1, validation curves; its own Markdown is kept as
``evaluator_report.md``) and adds what a reproduction needs beside it: the λ curves of the
sweeps, the selected λ, the paper's best validation accuracy beside ours with the difference,
the Gaussian double-weighting comparison, the hardware, the wall time per stage and the exact
command. A hand-written ``discussion.md`` in the output folder, when present, is included.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from configs import ALL_LOSSES, TUNED_LOSSES, ReproConfig, paper_best_val

ORIGINAL = "gaussian_original"
GAP = 0.5  # points; larger gaps to the paper are explained in the report
CURVE_LABELS = {"center": "center", "cosine": "cosine", "gaussian": "gaussian (clean, ours)",
                ORIGINAL: "gaussian (original code's double weighting)"}


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}"


def _mean_std(vals) -> tuple[float, float]:
    v = np.asarray([x for x in vals if x is not None and math.isfinite(x)], np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def _md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def sweep_curve(run_dir: Path) -> list[dict[str, Any]]:
    """Per λ of a sweep's run directory: mean/std of best validation accuracy over seeds,
    the number of runs, how many diverged, and the earliest divergence epoch."""
    from corel_jax import rundir
    from corel_jax.evaluate import lambda_curve

    runs = rundir.load_runs(run_dir)
    out = []
    for c in lambda_curve(runs):
        rs = [r for r in runs if float(r["lam"]) == c["lam"]]
        div = [r for r in rs if r.get("diverged")]
        out.append({"lam": c["lam"], "mean": c["mean"], "std": c["std"], "n": len(rs),
                    "diverged": len(div),
                    "diverged_epoch": min((r["diverged_epoch"] for r in div), default=None),
                    "test_mean": _mean_std(r["test_acc"] for r in rs)[0]})
    return out


def _evaluator_sections(md: str) -> dict[str, str]:
    """The evaluator's report split at its ``## `` headings."""
    parts: dict[str, str] = {}
    head, cur = "_top", []
    for line in md.splitlines():
        if line.startswith("## "):
            parts[head] = "\n".join(cur).strip()
            head, cur = line[3:].strip(), []
        else:
            cur.append(line)
    parts[head] = "\n".join(cur).strip()
    return parts


def plot_gaussian_comparison(clean, original, path: Path, title: str) -> Path:
    """Both Gaussian λ curves in one figure; λ values with diverged runs are marked ×."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=120)
    # y range from the runs that trained; a λ whose runs diverged before any finished epoch has
    # accuracy 0 and is marked × on the bottom edge instead of squashing the curves.
    ok = [c["mean"] * 100 for c in clean + original
          if math.isfinite(c["mean"]) and not c["diverged"]]
    bottom = min(ok) - 2 if ok else 0.0
    for curve, label, color in ((clean, CURVE_LABELS["gaussian"], "C2"),
                                (original, CURVE_LABELS[ORIGINAL], "C3")):
        lams = np.array([c["lam"] for c in curve])
        mean = np.array([c["mean"] for c in curve]) * 100
        std = np.array([c["std"] if math.isfinite(c["std"]) else 0.0 for c in curve]) * 100
        ax.errorbar(lams, mean, yerr=std, marker="o", ms=4, capsize=3, color=color, label=label)
        div = np.array([c["diverged"] > 0 for c in curve])
        if div.any():
            ax.scatter(lams[div], np.maximum(mean[div], bottom), marker="x", s=80, color="k",
                       zorder=5, clip_on=False,
                       label=f"diverged runs ({label.split(' (')[1].rstrip(')')})")
    ax.axvline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("λ")
    ax.set_ylabel("best validation accuracy (%)")
    if ok:
        ax.set_ylim(bottom, max(ok) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize="small", framealpha=0.9)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def gaussian_answer(clean, original) -> list[str]:
    """Data-driven sentences on the Gaussian λ curves (peak, value at 0.5, divergence)."""
    lines = []
    for name, curve in (("clean", clean), ("original-code", original)):
        ok = [c for c in curve if math.isfinite(c["mean"])]
        if not ok:
            lines.append(f"- {name}: no finite runs.")
            continue
        best = max(ok, key=lambda c: (c["mean"], -c["lam"]))
        at = {round(c["lam"], 4): c for c in curve}
        half = at.get(0.5)
        # neighbours whose runs all trained (a diverged λ's 0 % says nothing about a peak)
        nb_lams = [k for k in (0.45, 0.55)
                   if k in at and math.isfinite(at[k]["mean"]) and not at[k]["diverged"]]
        nb = [at[k]["mean"] for k in nb_lams]
        low = [c for c in curve if c["lam"] < 0.5]
        high = [c for c in curve if c["lam"] > 0.5]
        low_div = sum(c["diverged"] for c in low)
        s = (f"- {name}: peak at λ = {best['lam']:g} ({100 * best['mean']:.2f} %)")
        if half is not None and math.isfinite(half["mean"]):
            s += f"; at λ = 0.5: {100 * half['mean']:.2f} %"
            if nb:
                s += (f", {100 * (half['mean'] - np.mean(nb)):+.2f} points against "
                      + " and ".join(f"λ = {k:g}" for k in nb_lams)
                      + (" (their mean)" if len(nb) > 1 else ""))
        if low:
            lm = [c["mean"] for c in low if math.isfinite(c["mean"])]
            s += (f"; λ < 0.5: mean {100 * np.mean(lm):.2f} % (min {100 * min(lm):.2f} %), "
                  f"{low_div} of {sum(c['n'] for c in low)} runs diverged" if lm else
                  "; λ < 0.5: no finite runs")
        if high:
            hm = [c["mean"] for c in high if math.isfinite(c["mean"])]
            if hm:
                s += f"; λ > 0.5: mean {100 * np.mean(hm):.2f} % (min {100 * min(hm):.2f} %)"
        lines.append(s + ".")
    return lines


def write(cfg: ReproConfig, *, runs_root: Path, out: Path, lam_of: dict[str, float],
          sweep_dirs: dict[str, Path] | None = None,
          stages: dict[str, dict], command: str, train_wall_s: float, options=None,
          log=print) -> dict[str, Any]:
    """Writes ``out/report.md``, CSVs, PNGs and ``results.json``; returns the numbers."""
    from reproduce import hardware

    from corel_jax import rundir
    from corel_jax.evaluate import ReportOptions, plot_lambda_curves, write_report

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    options = options or ReportOptions()
    final_dirs = [runs_root / f"final-{loss}" for loss in ALL_LOSSES]
    log(f"[report] evaluator on {len(final_dirs)} final run directories")
    write_report(final_dirs, out, options, progress=log)
    # The evaluator's own Figure 2 / lambda curve of the final runs has one λ per loss:
    # replaced below by the sweep's.
    for f in (f"fig2_lambda_{cfg.dataset}-{cfg.model}.png", "lambda_curve.csv"):
        (out / f).unlink(missing_ok=True)
    shutil.move(out / "report.md", out / "evaluator_report.md")
    ev = _evaluator_sections((out / "evaluator_report.md").read_text())
    t_eval = time.perf_counter() - t0

    # ---- λ curves of the sweeps
    sweep_dirs = dict(sweep_dirs or {})
    for loss in (*ALL_LOSSES, ORIGINAL):
        sweep_dirs.setdefault(loss, runs_root / f"sweep-{loss}")
    curves = {loss: sweep_curve(sweep_dirs[loss]) for loss in ALL_LOSSES}
    if cfg.original_gaussian and (sweep_dirs[ORIGINAL] / "runs.json").is_file():
        curves[ORIGINAL] = sweep_curve(sweep_dirs[ORIGINAL])
    rows = []
    for loss, curve in curves.items():
        for c in curve:
            rows.append({"loss": loss, "lam": c["lam"], "mean_best_val_acc": c["mean"],
                         "std_best_val_acc": c["std"], "n": c["n"], "diverged": c["diverged"],
                         "diverged_epoch": c["diverged_epoch"],
                         "mean_test_acc": c["test_mean"],
                         "selected": loss in lam_of and c["lam"] == lam_of[loss]})
    rundir.write_csv(out / "lambda_sweep.csv", rows,
                     ["loss", "lam", "mean_best_val_acc", "std_best_val_acc", "n", "diverged",
                      "diverged_epoch", "mean_test_acc", "selected"])
    fig_lam = "fig2_lambda_sweep.png"
    plot_lambda_curves(
        {CURVE_LABELS[k]: ([c["lam"] for c in v], [100 * c["mean"] for c in v],
                           [100 * c["std"] for c in v])
         for k, v in curves.items() if k in TUNED_LOSSES},
        out / fig_lam, title=f"{cfg.setting} ({cfg.profile}): λ sweep",
        ylabel="best validation accuracy (%)")
    fig_gauss = None
    if ORIGINAL in curves:
        fig_gauss = "fig_gaussian_original.png"
        plot_gaussian_comparison(curves["gaussian"], curves[ORIGINAL], out / fig_gauss,
                                 f"{cfg.setting} ({cfg.profile}): Gaussian-COREL λ curves")

    # ---- final runs: ours vs the paper
    paper = paper_best_val(cfg.setting)
    final = {}
    for loss in ALL_LOSSES:
        runs = rundir.load_runs(runs_root / f"final-{loss}")
        v = _mean_std(r["best_val_acc"] for r in runs)
        t = _mean_std(r["test_acc"] for r in runs)
        sweep_at = next((c for c in curves[loss] if c["lam"] == lam_of[loss]), None)
        final[loss] = {
            "lam": lam_of[loss], "n": len(runs),
            "diverged": sum(bool(r.get("diverged")) for r in runs),
            "best_val_mean": v[0], "best_val_std": v[1], "test_mean": t[0], "test_std": t[1],
            "sweep_best_val": sweep_at["mean"] if sweep_at else None,
            "best_epochs": [r["best_epoch"] for r in runs],
            "paper_best_val": paper.get(loss),
            "diff_vs_paper": (100 * v[0] - paper[loss]) if loss in paper else None,
        }

    # ---- stages and hardware
    hw = hardware()
    sizes = rundir.load_config(runs_root / "final-cce").get("dataset_sizes", {})
    stage_rows = []
    for name, rec in stages.items():
        t = rec.get("timings", {})
        stage_rows.append([name, rec["num_runs"], rec["sweep"]["epochs"], rec["run_epochs"],
                           f"{rec['wall_s']:.0f}", f"{t.get('compile_s', 0):.0f}",
                           f"{rec['run_epochs'] / max(rec['wall_s'], 1e-9):.2f}",
                           rec.get("finished", "") + (" (reused)" if rec.get("skipped") else "")])
    total_stage_s = sum(rec["wall_s"] for rec in stages.values())
    total_run_epochs = sum(rec["run_epochs"] for rec in stages.values())

    # ---- report.md
    md = [f"# Reproduction: {cfg.setting}, profile `{cfg.profile}`", ""]
    md += ["Kenyon-Dean et al., *Clustering-Oriented Representation Learning with "
           "Attractive-Repulsive Loss* (arXiv:1812.07627), with corel-jax. Generated by "
           "`experiments/reproduce.py` from run directories under "
           f"`{runs_root}` (not in git).", ""]
    md += ["## How it was run", "", "```bash", command, "```", ""]
    md += [f"- Protocol: λ sweep over {len(cfg.lams)} values ({cfg.lams[0]:g} … "
           f"{cfg.lams[-1]:g}) for center, cosine and gaussian with "
           f"{len(cfg.sweep_seeds)} seed(s) per λ and {cfg.sweep_epochs} epochs; CCE once "
           f"({len(cfg.sweep_seeds)} seed(s)); λ per loss = highest mean best validation "
           f"accuracy; then {len(cfg.final_seeds)} seeds × {cfg.final_epochs} epochs at the "
           f"selected λ for all four losses (tables below use these final runs).",
           f"- Model: `{cfg.model}` (width {cfg.width}), Adam lr {cfg.lr:g}, batch "
           f"{cfg.batch_size}, γ init {cfg.gamma:g} (learned), best epoch by validation "
           f"accuracy; {sizes.get('train', '?')} training, {sizes.get('val', '?')} validation "
           f"(split off the training set), {sizes.get('test', '?')} test examples.",
           f"- Reduced relative to the paper: {cfg.reduced or 'nothing (the paper protocol)'}.",
           f"- Hardware: {hw.get('cpu_model', '?')}, {hw.get('cpus', '?')} CPU(s) (shared with "
           f"other jobs), {hw.get('memory_gib', '?')} GiB RAM; JAX {hw.get('jax', '?')} "
           f"({hw.get('backend', '?')}), Python {hw.get('python', '?')}.",
           f"- Wall time: {total_stage_s / 60:.1f} min of training stages "
           f"({total_run_epochs} run-epochs), plus {t_eval:.0f} s for the evaluator; "
           f"this invocation: {train_wall_s / 60:.1f} min training "
           "(stages already complete are reused and not re-timed).", ""]
    md += [f"Wall time per stage (run-epochs = runs × epochs; one epoch = "
           f"{sizes.get('train', '?')} training examples + validation):", ""]
    md.append(_md_table(["stage", "runs", "epochs", "run-epochs", "wall s", "compile s",
                         "run-epochs/s", "finished"], stage_rows))
    md.append("")

    # λ selection and paper comparison
    md += ["## Tuned λ and best validation accuracy vs the paper", "",
           "Ours: best validation accuracy (%) at the selected λ — in the sweep "
           f"({len(cfg.sweep_seeds)} seed(s), {cfg.sweep_epochs} epochs) and in the final runs "
           f"(mean ± std over {len(cfg.final_seeds)} seeds, {cfg.final_epochs} epochs). Paper: "
           "its best validation accuracy at its tuned λ (supplement; 150 epochs). Difference "
           "= our final mean − paper.", ""]
    prow = []
    for loss in ALL_LOSSES:
        f = final[loss]
        diff = f["diff_vs_paper"]
        prow.append([loss, "—" if loss == "cce" else f"{f['lam']:g}",
                     _pct(f["sweep_best_val"]),
                     f"{_pct(f['best_val_mean'])} ± {_pct(f['best_val_std'])}",
                     "—" if f["paper_best_val"] is None else f"{f['paper_best_val']:.2f}",
                     "—" if diff is None else f"{diff:+.2f}",
                     "**yes**" if diff is not None and abs(diff) > GAP else
                     ("no" if diff is not None else "—")])
    md.append(_md_table(["loss", "our λ", "ours, sweep", "ours, final runs", "paper",
                         "difference", f"gap > {GAP}?"], prow))
    md.append("")
    gaps = [loss for loss in ALL_LOSSES
            if final[loss]["diff_vs_paper"] is not None
            and abs(final[loss]["diff_vs_paper"]) > GAP]
    if not paper:
        md += ["The paper has no numbers for this setting.", ""]
    elif gaps:
        md += [f"Gaps above {GAP} points: {', '.join(gaps)}. Reasons measured or known: "
               f"{cfg.reduced or 'none of the protocol was reduced'}; see the discussion "
               "below.", ""]
    else:
        md += [f"Every difference is within {GAP} points.", ""]

    # λ curves
    md += ["## λ curves (Figure 2)", "",
           "Mean best validation accuracy (%) over the sweep's seeds per λ; † = some runs "
           "diverged (NaN/inf; the engine keeps the best epoch before divergence); "
           "**bold** = selected.", ""]
    names = [k for k in ("center", "cosine", "gaussian", ORIGINAL) if k in curves]
    lams = sorted({c["lam"] for k in names for c in curves[k]})
    lrows = []
    for lam in lams:
        row = [f"{lam:g}"]
        for k in names:
            c = next((c for c in curves[k] if c["lam"] == lam), None)
            if c is None:
                row.append("")
                continue
            cell = _pct(c["mean"])
            if c["diverged"]:
                cell += f" †{c['diverged']}/{c['n']} (ep {c['diverged_epoch']})"
            if k in lam_of and lam == lam_of[k]:
                cell = f"**{cell}**"
            row.append(cell)
        lrows.append(row)
    md.append(_md_table(["λ"] + [CURVE_LABELS[k] for k in names], lrows))
    md += ["", f"CCE (no λ): {_pct(curves['cce'][0]['mean'])} % in the sweep.", "",
           f"![λ curves]({fig_lam})", ""]

    # Gaussian question
    if fig_gauss:
        md += ["## Open question: the Gaussian peak at λ = 0.5", "",
               "The original PyTorch code (kiankd/corel2019, `corel/loss_functions.py`, "
               "`GaussianARLoss`) computes Gaussian-COREL as CCE on the Gaussian logits at "
               "exactly λ = 0.5, and at every other λ as "
               "`λ²·γ‖h−w_y‖² + (1−λ)²·log(Σ_j exp(−γ‖h−w_j‖²) + 1e-10)` (λ and 1−λ applied "
               "twice, naive log-sum-exp). The variant `experiments/gaussian_original.py` "
               "follows the issue's description of this, checked against that file (it adds "
               "the original's `+ 1e-10`); our library's loss is Eq. 6 with λ once and a "
               "stable log-sum-exp. Same grid, seeds and epochs for both curves.", "",
               f"![Gaussian λ curves]({fig_gauss})", ""]
        md += gaussian_answer(curves["gaussian"], curves[ORIGINAL])
        md.append("")

    # evaluator sections
    for title in ("Test accuracy (Table 2)", "Clustering of test representations (Tables 3–4)"):
        if title in ev:
            md += [f"## {title}", "", ev[title], ""]
    if "Figures" in ev:
        figs = [line for line in ev["Figures"].splitlines()
                if line.startswith("![") and "fig2_lambda" not in line]
        md += ["## Figures of the final runs", ""] + sum(([f, ""] for f in figs), [])
    disc = out / "discussion.md"
    if disc.is_file():
        md += ["## Discussion", "", disc.read_text().strip(), ""]
    md += ["", "Files: `results.json` (the numbers above), `lambda_sweep.csv`, the evaluator's "
           "CSVs (`accuracy_*.csv`, `table2_accuracy.csv`, `clustering_*.csv`, "
           "`table3_clustering.csv`) and `evaluator_report.md`.", ""]
    rundir.write_text(out / "report.md", "\n".join(md))

    results = {
        "setting": cfg.setting, "profile": cfg.profile, "config": cfg.__dict__,
        "command": command, "hardware": hw, "lam_of": lam_of, "final": final,
        "paper_best_val": paper, "curves": curves,
        "stages": {k: {kk: v[kk] for kk in ("wall_s", "num_runs", "run_epochs", "timings",
                                            "finished", "skipped") if kk in v}
                   for k, v in stages.items()},
        "total_stage_s": total_stage_s, "evaluator_s": t_eval,
    }
    rundir.write_json(out / "results.json", results)
    log(f"[report] wrote {out / 'report.md'}")
    return results
