"""experiments/summarize_results.py: experiments/README.md's table of reproductions, from
results.json."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import summarize_results  # noqa: E402


def write(root, setting, profile, final, comparison=None):
    d = root / setting / profile
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({
        "setting": setting, "profile": profile, "final": final,
        "paper_best_val": {"center": 89.76, "cosine": 89.5, "gaussian": 89.74},
        **({"paper_comparison": comparison} if comparison else {})}))


def test_rows_say_how_far_a_running_reproduction_has_got(tmp_path):
    run = {"best_val_mean": 0.9051, "test_mean": 0.8953, "n": 10}
    write(tmp_path, "a", "paper", {})
    write(tmp_path, "b", "paper", {"cce": run})
    write(tmp_path, "c", "paper", {loss: {**run, "test_mean": 0.89 + i / 1000}
                                   for i, loss in enumerate(summarize_results.ALL_LOSSES)})
    rows = summarize_results.table(tmp_path).splitlines()[2:]
    assert rows[0].endswith("| — | — | — | — | final runs not yet run | — |")
    assert "| 90.51 | — | — | — | cce 89.53 (10 seeds); final runs of 1 of 4 losses so far |" \
        in rows[1]
    # complete: the best on test, the paper's value beside ours, no "so far"
    assert rows[2].endswith("| 90.51 | 90.51 (89.76) | 90.51 (89.50) | 90.51 (89.74) | "
                            "gaussian 89.30 (10 seeds) | — |")


def test_rows_count_both_comparisons_with_the_paper(tmp_path):
    """The last column: losses within ±0.5 of the paper, final seeds' mean; sweep run."""
    run = {"best_val_mean": 0.9051, "test_mean": 0.8953, "n": 10}
    write(tmp_path, "a", "paper", {loss: run for loss in summarize_results.ALL_LOSSES},
          {"gap": 0.5, "rows": [], "mean": {"within": 1, "rows": 3},
           "sweep_run": {"within": 3, "rows": 3}})
    assert summarize_results.table(tmp_path).splitlines()[2].endswith("| 1/3; 3/3 |")


def test_rows_show_the_epochs_each_run_trains(tmp_path):
    """The epochs column: the stages' configs (results.json's ``epochs``), one number when the
    sweeps and final runs agree, both otherwise; an early cpu report's config as fallback."""
    run = {"best_val_mean": 0.9051, "test_mean": 0.8953, "n": 10}
    final = {loss: run for loss in summarize_results.ALL_LOSSES}
    for name, extra in (("a", {"epochs": {**{f"sweep-{k}": 10 for k in final},
                                          **{f"final-{k}": 10 for k in final},
                                          "curve-cosine_fixed_w": 150}}),
                        ("b", {"epochs": {**{f"sweep-{k}": 3 for k in final},
                                          **{f"final-{k}": 10 for k in final}}}),
                        ("c", {"config": {"sweep_epochs": 1, "final_epochs": 3}})):
        write(tmp_path, name, "p", final)
        f = tmp_path / name / "p" / "results.json"
        f.write_text(json.dumps({**json.loads(f.read_text()), **extra}))
    lines = summarize_results.table(tmp_path).splitlines()
    assert "epochs per run (paper: 150)" in lines[0]
    assert [line.split(" | ")[2] for line in lines[2:]] == [
        "10", "sweep 3, final 10", "sweep 1, final 3"]
