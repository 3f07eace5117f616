"""experiments/summarize_results.py: the README's table of reproductions, from results.json."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import summarize_results  # noqa: E402


def write(root, setting, profile, final):
    d = root / setting / profile
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({
        "setting": setting, "profile": profile, "final": final,
        "paper_best_val": {"center": 89.76, "cosine": 89.5, "gaussian": 89.74}}))


def test_rows_say_how_far_a_running_reproduction_has_got(tmp_path):
    run = {"best_val_mean": 0.9051, "test_mean": 0.8953, "n": 10}
    write(tmp_path, "a", "paper", {})
    write(tmp_path, "b", "paper", {"cce": run})
    write(tmp_path, "c", "paper", {loss: {**run, "test_mean": 0.89 + i / 1000}
                                   for i, loss in enumerate(summarize_results.LOSSES)})
    rows = summarize_results.table(tmp_path).splitlines()[2:]
    assert rows[0].endswith("| — | — | — | — | final runs not yet run |")
    assert "| 90.51 | — | — | — | cce 89.53 (10 seeds); final runs of 1 of 4 losses so far |" \
        in rows[1]
    # complete: the best on test, the paper's value beside ours, no "so far"
    assert rows[2].endswith("| 90.51 | 90.51 (89.76) | 90.51 (89.50) | 90.51 (89.74) | "
                            "gaussian 89.30 (10 seeds) |")
