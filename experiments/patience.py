"""What early stopping costs, measured on fully trained λ sweeps; chooses the patience.

    S=experiments/results/mnist-mlp/paper/stages
    python experiments/patience.py $S/sweep-cce $S/sweep-cosine $S/sweep-gaussian

Every given stage folder (``runs.json`` + ``curves.csv``, trained for all its epochs without
early stopping) is replayed with each patience (:func:`corel_jax.evaluate.stopping.simulate`,
which equals the engine's rule: ``tests/test_grid_and_stopping.py``). For each patience the
table gives in how many runs the best epoch (and so the best validation accuracy, test
accuracy and representations) equals the full run's, the largest and mean loss of best
validation accuracy, and the run-epochs saved. The chosen patience is the smallest whose
largest loss is at most ``--max-loss`` points on every stage; ``--max-loss se`` sets that bound
to the validation estimate's own standard error, ``sqrt(p (1 − p) / n_val)`` at the stages'
mean best validation accuracy ``p`` (the smallest over the stages): a loss below it is within
the noise of the number being compared. Writes ``--out`` (Markdown) and prints it. Runs in
seconds (numpy only).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from corel_jax import rundir
from corel_jax.evaluate.stopping import patience_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stages", nargs="+", help="stage folders trained without early stopping")
    p.add_argument("--patience", default="5,10,15,20,30",
                   help="comma-separated patiences to measure")
    p.add_argument("--max-loss", default="0.1",
                   help="largest best-validation loss (points) the chosen patience may cost, "
                        "or 'se': the validation accuracy's standard error")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "patience.md"))
    args = p.parse_args(argv)
    patiences = [int(x) for x in args.patience.split(",")]
    lines = ["# Early stopping: what each patience costs against full runs", "",
             f"Command: `python experiments/patience.py {' '.join(args.stages)} --patience "
             f"{args.patience} --max-loss {args.max_loss}`", "",
             "A run stops once its best validation accuracy has not improved for P epochs. "
             "`same best epoch`: runs whose best epoch equals the full run's (their best "
             "validation accuracy, test accuracy and representations are then identical); "
             "`max/mean loss`: drop of best validation accuracy in points; `saved`: run-epochs "
             "not trained.", ""]
    worst: dict[int, float] = {q: 0.0 for q in patiences}
    ses = []
    total = {q: [0, 0] for q in patiences}
    for stage in map(Path, args.stages):
        runs = rundir.load_runs(stage)
        config = rundir.load_config(stage)
        if config.get("patience"):
            print(f"{stage} was trained with early stopping; give fully trained stages",
                  file=sys.stderr)
            return 2
        curves = rundir.load_curves(stage)["val_acc"]
        n_val = (config.get("dataset_sizes") or {}).get("val")
        best = float(np.nanmean([r["best_val_acc"] for r in runs if not r.get("diverged")]))
        se = 100 * math.sqrt(best * (1 - best) / n_val) if n_val else float("nan")
        if math.isfinite(se):
            ses.append(se)
        lines += [f"## {stage.name} ({config.get('setting', '')}, {config.get('loss')}, "
                  f"{len(runs)} runs × up to {curves.shape[1]} epochs)", "",
                  f"Mean best validation accuracy {100 * best:.2f} % on {n_val} examples: "
                  f"standard error {se:.2f} points.", "",
                  "| patience | same best epoch | max loss (points) | mean loss (points) | "
                  "run-epochs trained / full | saved |", "|---:|---:|---:|---:|---:|---:|"]
        for row in patience_table(curves, patiences):
            q = row["patience"]
            worst[q] = max(worst[q], row["max_loss_points"])
            total[q][0] += row["epochs_trained"]
            total[q][1] += row["epochs_full"]
            lines.append(f"| {q} | {row['same_best_epoch']}/{row['runs']} | "
                         f"{row['max_loss_points']:.2f} | {row['mean_loss_points']:.3f} | "
                         f"{row['epochs_trained']}/{row['epochs_full']} | "
                         f"{100 * row['saved']:.0f}% |")
        lines.append("")
    if args.max_loss == "se":
        if not ses:
            print("--max-loss se needs the validation size in the stages' config.json",
                  file=sys.stderr)
            return 2
        bound, why = min(ses), "points, the smallest validation standard error above"
    else:
        bound, why = float(args.max_loss), "points"
    chosen = next((q for q in sorted(patiences) if worst[q] <= bound), None)
    lines += ["## Choice", "",
              "| patience | largest loss over all stages (points) | saved over all stages |",
              "|---:|---:|---:|"]
    lines += [f"| {q} | {worst[q]:.2f} | {100 * (1 - total[q][0] / max(total[q][1], 1)):.0f}% |"
              for q in patiences]
    lines += ["", f"Chosen: **patience {chosen}** (the smallest whose largest loss is at most "
                  f"{bound:.2f} {why})." if chosen is not None else
              f"No patience measured keeps the loss within {bound:.2f} {why}: train in full."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
