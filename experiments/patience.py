"""What early stopping costs, measured on fully trained λ sweeps; chooses the patience.

    S=experiments/results/mnist-mlp/paper/stages
    python experiments/patience.py $S/sweep-cce $S/sweep-cosine $S/sweep-gaussian

Every given stage folder (``runs.json`` + ``curves.csv``, trained for all its epochs without
early stopping) is replayed with each patience (:func:`corel_jax.evaluate.stopping.simulate`,
which equals the engine's rule: ``tests/test_grid_and_stopping.py``). For each patience the
table gives in how many runs the best epoch (and so the best validation accuracy, test
accuracy and representations) equals the full run's, the largest and mean loss of best
validation accuracy, and the run-epochs saved. The chosen patience is the smallest whose
largest loss is at most ``--max-loss`` points on every stage. Writes ``--out`` (Markdown) and
prints it. Runs in seconds (numpy only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from corel_jax import rundir
from corel_jax.evaluate.stopping import patience_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stages", nargs="+", help="stage folders trained without early stopping")
    p.add_argument("--patience", default="5,10,15,20,30",
                   help="comma-separated patiences to measure")
    p.add_argument("--max-loss", type=float, default=0.1,
                   help="largest best-validation loss (points) the chosen patience may cost")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "patience.md"))
    args = p.parse_args(argv)
    patiences = [int(x) for x in args.patience.split(",")]
    lines = ["# Early stopping: what each patience costs against full runs", "",
             f"Command: `python experiments/patience.py {' '.join(args.stages)}`", "",
             "A run stops once its best validation accuracy has not improved for P epochs. "
             "`same best epoch`: runs whose best epoch equals the full run's (their best "
             "validation accuracy, test accuracy and representations are then identical); "
             "`max/mean loss`: drop of best validation accuracy in points; `saved`: run-epochs "
             "not trained.", ""]
    worst: dict[int, float] = {q: 0.0 for q in patiences}
    total = {q: [0, 0] for q in patiences}
    for stage in map(Path, args.stages):
        runs = rundir.load_runs(stage)
        config = rundir.load_config(stage)
        if config.get("patience"):
            print(f"{stage} was trained with early stopping; give fully trained stages",
                  file=sys.stderr)
            return 2
        curves = rundir.load_curves(stage)["val_acc"]
        lines += [f"## {stage.name} ({config.get('setting', '')}, {config.get('loss')}, "
                  f"{len(runs)} runs × up to {curves.shape[1]} epochs)", "",
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
    chosen = next((q for q in sorted(patiences) if worst[q] <= args.max_loss), None)
    lines += ["## Choice", "",
              "| patience | largest loss over all stages (points) | saved over all stages |",
              "|---:|---:|---:|"]
    lines += [f"| {q} | {worst[q]:.2f} | {100 * (1 - total[q][0] / max(total[q][1], 1)):.0f}% |"
              for q in patiences]
    lines += ["", f"Chosen: **patience {chosen}** (the smallest whose largest loss is at most "
                  f"{args.max_loss} points)." if chosen is not None else
              f"No patience measured keeps the loss within {args.max_loss} points: train in full."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
