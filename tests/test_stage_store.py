"""The stage store of the reproduction (``experiments/stage_store.py``): a stage's marker is
written last, with the SHA-256 of every stored file, and readers check them."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import stage_store  # noqa: E402


def test_every_committed_stage_is_sealed_and_verifies():
    records = sorted((ROOT / "experiments" / "results").rglob(stage_store.STAGE_FILE))
    assert len(records) > 100
    for f in records:
        rec = stage_store.read_record(f.parent)  # raises StageError on any mismatch
        assert set(rec["files"]) >= {"config.json", "runs.json", "curves.csv"}, f


def test_a_changed_or_missing_stored_file_is_named(tmp_path):
    for name in ("config.json", "runs.json", "curves.csv"):
        (tmp_path / name).write_text(f"{name}\n")
    stage_store.seal(tmp_path, {"stage": "final-cce", "wall_s": 1.0})
    assert stage_store.read_record(tmp_path)["stage"] == "final-cce"
    (tmp_path / "runs.json").write_text("[]\n")
    with pytest.raises(stage_store.StageError, match="runs.json differs"):
        stage_store.read_record(tmp_path)
    (tmp_path / "runs.json").unlink()
    with pytest.raises(stage_store.StageError, match="runs.json is missing"):
        stage_store.read_record(tmp_path)


def test_a_stage_being_stored_is_not_finished(tmp_path):
    """``unseal`` first, ``seal`` last: killed in between, the stage has no marker."""
    (tmp_path / "config.json").write_text("{}\n")
    stage_store.seal(tmp_path, {"stage": "x"})
    stage_store.unseal(tmp_path)  # store_stage's first step
    (tmp_path / "runs.json").write_text("[]\n")  # ... killed here
    assert stage_store.read_record(tmp_path) is None


def test_legacy_records_are_sealed_as_they_are(tmp_path):
    d = tmp_path / "s" / "sweep-cce"
    d.mkdir(parents=True)
    (d / "runs.json").write_text("[]\n")
    (d / stage_store.STAGE_FILE).write_text(json.dumps({"stage": "sweep-cce"}))
    assert "files" not in stage_store.read_record(d)  # read unchecked
    assert stage_store.seal_legacy(tmp_path) == [d / stage_store.STAGE_FILE]
    assert stage_store.read_record(d)["files"] == {
        "runs.json": stage_store.sha256(d / "runs.json")}
    assert stage_store.seal_legacy(tmp_path) == []  # once only
