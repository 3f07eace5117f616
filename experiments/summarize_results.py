"""One Markdown table of every committed reproduction (``experiments/results/*/results.json``).

    python experiments/summarize_results.py     # prints the table (in experiments/README.md)

Per setting and profile: the most epochs a run trains (the stages' configs; the paper's 150
where the profile keeps them, fewer in the ``curve`` and ``cpu`` profiles), our best validation
accuracy at the selected λ (mean over the final seeds) against the paper's, the best loss on
test accuracy, and how many of the losses the paper gives a number for are within ±0.5 points
of it, compared two ways (``report_repro.py``'s ``paper_comparison``): our final seeds' mean,
and our single sweep run at the selected λ (the paper's kind of number). The numbers come from
the reports' ``results.json``; nothing is typed by hand.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from configs import ALL_LOSSES  # noqa: E402

PAPER_EPOCHS = 150  # the paper's training length per run


def epochs_cell(r: dict) -> str:
    """The most epochs a run trains, from the stages' configs (``results.json``'s ``epochs``,
    written by ``report_repro.py``; an older ``cpu`` report's ``config`` otherwise): one number
    when the sweeps and the final runs of the four losses agree, else both."""
    by_stage = r.get("epochs")
    if by_stage:
        sweep = {e for k, e in by_stage.items() if k in {f"sweep-{x}" for x in ALL_LOSSES}}
        final = {e for k, e in by_stage.items() if k in {f"final-{x}" for x in ALL_LOSSES}}
    else:
        cfg = r.get("config") or {}
        sweep = {cfg["sweep_epochs"]} if "sweep_epochs" in cfg else set()
        final = {cfg["final_epochs"]} if "final_epochs" in cfg else set()

    def fmt(es: set) -> str:
        return "/".join(str(e) for e in sorted(es)) or "?"

    if not sweep and not final:
        return "—"
    if sweep == final or not final:
        return fmt(sweep or final)
    return f"sweep {fmt(sweep)}, final {fmt(final)}"


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    final = r["final"]

    def cell(loss: str) -> str:
        f = final.get(loss)
        if not f:
            return "—"
        ours = f"{100 * f['best_val_mean']:.2f}"
        paper = (r.get("paper_best_val") or {}).get(loss)
        return ours if paper is None else f"{ours} ({paper:.2f})"

    # links relative to experiments/ (experiments/README.md, where the table is); a results
    # tree elsewhere still works
    rel = Path(os.path.relpath(path.parent, HERE)).as_posix()
    done = [loss for loss in ALL_LOSSES if final.get(loss)]
    if done:
        best = max(done, key=lambda k: final[k]["test_mean"])
        best_cell = f"{best} {100 * final[best]['test_mean']:.2f} ({final[best]['n']} seeds)"
        if len(done) < len(ALL_LOSSES):  # a reproduction still running: "best" of those done
            best_cell += f"; final runs of {len(done)} of {len(ALL_LOSSES)} losses so far"
    else:
        best_cell = "final runs not yet run"
    cmp = r.get("paper_comparison")
    within = "—" if not cmp else (f"{cmp['mean']['within']}/{cmp['mean']['rows']}; "
                                  f"{cmp['sweep_run']['within']}/{cmp['sweep_run']['rows']}")
    return (f"| [{r['setting']}]({rel}/report.md) | `{r['profile']}` | {epochs_cell(r)} | "
            + " | ".join(cell(loss) for loss in ALL_LOSSES) + f" | {best_cell} | {within} |")


def table(root: Path = HERE / "results") -> str:
    lines = [f"| setting | profile | epochs per run (paper: {PAPER_EPOCHS}) | CCE | center "
             "| cosine | Gaussian | best on test | within ±0.5: mean; sweep run |",
             "|---|---|---|---:|---:|---:|---:|---|---|"]
    # a setting's default report is results/<setting>/; other profiles (``paper``, ``curve``)
    # live in results/<setting>/<profile>/
    found = [*root.glob("*/results.json"), *root.glob("*/*/results.json")]
    lines += [row(p) for p in sorted(found, key=lambda p: p.relative_to(root).parts)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results"))
