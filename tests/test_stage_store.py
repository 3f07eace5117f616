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


def test_every_committed_record_reads_as_the_key_of_its_configuration(registries_restored):
    """Read in the current form (:func:`stage_store.upgrade`), every committed stage's
    ``"sweep"`` is exactly the key a ``SweepConfig`` of it gives today (fields added since
    the stage was stored at their defaults), so reproduce.py can recognise it."""
    import fixed_prototype_curves

    from corel_jax.train import SweepConfig

    import gaussian_original  # noqa: F401 -- registers the loss

    fixed_prototype_curves.register_fixed()
    for f in sorted((ROOT / "experiments" / "results").rglob(stage_store.STAGE_FILE)):
        sweep = stage_store.read_record(f.parent)["sweep"]
        assert stage_store.stage_key(SweepConfig.from_dict(sweep)) == sweep, f


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


def _store(root, name, record, config):
    store = root / "stages" / name
    store.mkdir(parents=True)
    (store / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (store / "runs.json").write_text("[]\n")
    stage_store.seal(store, record)
    return store


def test_the_older_variant_form_is_read_and_converted_as_the_current_one(tmp_path):
    """Before a changed loss was a registered spec, a stage named it by a ``"variant"`` beside
    the loss it changed. ``read_record`` returns the current form (the loss trained, no
    variant); ``upgrade_stores`` rewrites ``stage.json`` and ``config.json`` and reseals,
    leaving the results' files as they were. A field the record lacks (added to SweepConfig
    later) reads as its default."""
    from corel_jax.train import SweepConfig

    sweep = {"dataset": "digits", "loss": "gaussian", "lams": [0.5], "learn_gamma": False}
    current = stage_store.stage_key(SweepConfig(dataset="digits", loss="gaussian",
                                                lams=(0.5,), learn_gamma=False))
    config = {**sweep, "similarity": "gaussian", "num_runs": 1}
    original = _store(tmp_path, "final-gaussian_original",
                      {"stage": "final-gaussian_original", "variant": "gaussian_original",
                       "sweep": sweep, "wall_s": 2.0},
                      {**config, "variant": "gaussian_original", "variant_note": "the code's"})
    learned = _store(tmp_path, "final-gaussian_learned",
                     {"stage": "final-gaussian_learned", "variant": "gaussian_learned",
                      "sweep": {**sweep, "learn_gamma": True}, "wall_s": 3.0},
                     {**config, "learn_gamma": True, "variant": "gaussian_learned",
                      "variant_note": "learned γ"})
    plain = _store(tmp_path, "final-gaussian",
                   {"stage": "final-gaussian", "variant": None, "sweep": sweep, "wall_s": 1.0},
                   config)
    read = {s: stage_store.read_record(s) for s in (original, learned, plain)}
    assert read[original]["sweep"] == {**current, "loss": "gaussian_original"}
    assert read[learned]["sweep"] == {**current, "learn_gamma": True}
    assert read[plain]["sweep"] == current
    assert all("variant" not in r and stage_store.upgrade(r) == r for r in read.values())

    runs = (original / "runs.json").read_bytes()
    changed = stage_store.upgrade_stores(tmp_path)
    assert changed == sorted(s / "stage.json" for s in (original, learned, plain))
    def without_hashes(rec):
        return {k: v for k, v in rec.items() if k != "files"}

    for s, rec in read.items():
        now = stage_store.read_record(s)  # resealed: the hashes verify
        assert without_hashes(now) == without_hashes(rec)
        assert json.loads((s / "stage.json").read_text()) == now  # stored as read
    # config.json in the library's current format (rundir.upgrade_config): the variant's
    # loss, every field at its value or default, the format version
    from corel_jax import rundir

    assert json.loads((original / "config.json").read_text()) == rundir.upgrade_config(
        {**config, "loss": "gaussian_original"})
    assert json.loads((learned / "config.json").read_text()) == rundir.upgrade_config(
        {**config, "learn_gamma": True})
    assert json.loads((plain / "config.json").read_text())["format_version"] == \
        rundir.CONFIG_FORMAT_VERSION
    assert (original / "runs.json").read_bytes() == runs
    assert stage_store.upgrade_stores(tmp_path) == []  # the current form stays as it is
