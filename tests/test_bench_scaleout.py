"""experiments/bench_scaleout.py's pure parts (no JAX, no process started): the configuration
list, the steady-state rate, the saves paired across processes, the SIGTERM breakdown and the
tables. The benchmark itself is run by hand (its docstring)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import bench_scaleout as b  # noqa: E402


def test_parse_configs():
    assert b.parse_configs("1x1, 1x2,4,2X1") == [(1, 1), (1, 2), (1, 4), (2, 1)]
    for bad in ("2y1", "0x1", "", "1x"):
        with pytest.raises(ValueError):
            b.parse_configs(bad)


def test_steady_rate_leaves_the_first_epoch_out():
    t = {"train_s": 5.0, "first_epoch_s": 1.0, "epochs": 5}
    assert b.steady_rate(t, runs=8, epochs=5) == {"s_per_epoch": 1.0, "run_epochs_per_s": 8.0}
    assert b.steady_rate({"train_s": 2.0, "epochs": 1}, 4, 1)["s_per_epoch"] == 2.0
    with pytest.raises(ValueError, match="several chunks"):
        b.steady_rate({**t, "epochs": 10}, runs=8, epochs=5)


def _save(chunk, epoch, start, end):
    return {"event": "save", "chunk": chunk, "epoch": epoch, "start": start, "end": end}


def test_saves_span_every_process_and_the_breakdown():
    events = [[_save(0, 1, 10.0, 10.5), _save(0, 2, 20.0, 20.3), {"event": "return"}],
              [_save(0, 1, 10.1, 10.7), _save(0, 2, 20.1, 20.4)]]
    s = b.saves(events)
    assert [(x["epoch"], x["processes"]) for x in s] == [(1, 2), (2, 2)]
    assert s[0]["s"] == pytest.approx(0.7) and s[1]["s"] == pytest.approx(0.4)
    assert [x["epoch"] for x in b.saves(events, after=15.0)] == [2]
    t = b.term_breakdown(19.0, [(75, 21.0), (75, 21.5)], events)
    assert t["statuses"] == [75, 75] and t["stopped_after"] == 2
    assert t["to_exit_s"] == pytest.approx(2.5)
    assert t["finish_epoch_s"] == pytest.approx(1.0)
    assert t["save_s"] == pytest.approx(0.4)
    assert t["after_save_s"] == pytest.approx(1.1)
    none = b.term_breakdown(25.0, [(75, 26.0)], events)  # no save after the signal
    assert none["save_s"] is None and none["to_exit_s"] == pytest.approx(1.0)


def test_tables():
    rep = {"runs": 16,
           "plain": {"s_per_epoch": 0.1, "run_epochs_per_s": 160.0, "compile_s": 2.0,
                     "total_s": 3.0, "wall_s": 6.0, "save_s": []},
           "ckpt": {"s_per_epoch": 0.1, "run_epochs_per_s": 150.0, "compile_s": 2.0,
                    "total_s": 4.0, "wall_s": 7.0, "save_s": [0.5, 0.2, 0.3]},
           "term": {"statuses": [75, 75], "to_exit_s": 1.0, "stopped_after": 2,
                    "finish_epoch_s": 0.1, "save_s": 0.3, "after_save_s": 0.6,
                    "checkpoint_mb": 19.1}}
    lines = b.tables({(2, 1): [rep, rep]})
    text = "\n".join(lines)
    assert "| 2 × 1 | 16 | 0.100 | 160.0 (160.0–160.0) | 2.0 | 6.0 |" in text
    assert "| 2 × 1 | 3 | 0.500 | 0.250 (0.200–0.300) | 19.1 | 150.0 | 0.333 |" in text
    assert "| 2 × 1 | process 1 | 75, 75 | 2 | 1.00 (1.00–1.00) | 0.10 | 0.300 | 0.60 |" in text
    # every table row has its header's number of cells
    for block in text.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        assert len({r.count("|") for r in rows}) <= 1, block
