"""The stage store: each finished stage's compact results, kept in git
(``experiments/results/<setting>/<profile>/stages/<stage>/``).

A stage folder holds ``config.json``, ``runs.json``, ``runs.csv``, ``curves.csv``, for final
stages ``clustering.csv``, and ``stage.json``: the stage record (what was trained, wall time,
hardware) with ``"files"``, the SHA-256 of every other file of the stage. ``stage.json`` is the
stage's "done" marker: :func:`seal` writes it last, once every other file is in place, so a
stage killed while being stored has no marker and is trained (or stored) again. Readers check
the hashes (:func:`read_record`), so a file changed or damaged after the stage was stored is
an error naming it, never a silently different number.

A stage's record says what was trained in ``"sweep"``: the stage's ``SweepConfig``
(:func:`stage_key`: less where the data is read from and how runs are grouped and
checkpointed), whose ``loss`` is the registered loss it trained; a stage is complete for a
configuration exactly when that equals the configuration's key. Stages stored in an older form
are read in the current one (:func:`upgrade`, applied by :func:`read_record`: the one upgrade
path of a stage record), so they count as the same stage; ``python experiments/stage_store.py
--upgrade DIR`` converts the stored files and reseals them. Stages stored before the hashes
existed have no ``"files"``; ``--seal-legacy DIR`` adds them (the files as committed).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

STAGE_FILE = "stage.json"
CLUSTERING_CSV = "clustering.csv"
#: the run-directory files a stage keeps (never parameters or representations)
RUN_FILES = ("config.json", "runs.json", "runs.csv", "curves.csv")


#: the ``SweepConfig`` fields a record's ``"sweep"`` leaves out: a stage trained with any value
#: of them is the same stage
NOT_IN_KEY = ("data_dir", "run_batch", "pad_run_groups", "max_chunk_size", "memory_budget_gb",
              "checkpoint_every")
#: losses that an older reproduce.py trained as loss ``"gaussian"`` with its objective replaced,
#: marked ``"variant": <name>``; each is a registered loss of that name now
#: (``experiments/gaussian_original.py``)
VARIANT_LOSSES = ("gaussian_original",)


class StageError(ValueError):
    """A stored stage is damaged: a file is missing or differs from its recorded hash."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unseal(store: Path) -> None:
    """Removes the marker before a stage's files are (re)written, so a stage interrupted
    while being stored is never taken for finished."""
    (Path(store) / STAGE_FILE).unlink(missing_ok=True)


def seal(store: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Writes ``stage.json`` (``record`` plus the hashes of every other file of the stage
    folder), last and atomically; returns what was written."""
    from corel_jax import rundir

    store = Path(store)
    files = sorted(p.name for p in store.iterdir()
                   if p.is_file() and p.name != STAGE_FILE and not rundir.is_temporary(p.name))
    rec = {**record, "files": {name: sha256(store / name) for name in files}}
    rundir.write_json(store / STAGE_FILE, rec)
    return rec


def stage_key(scfg) -> dict[str, Any]:
    """A stage record's ``"sweep"`` for the ``SweepConfig`` ``scfg``: its :meth:`to_dict`, as
    JSON reads it back, less :data:`NOT_IN_KEY`."""
    d = json.loads(json.dumps(scfg.to_dict()))
    for k in NOT_IN_KEY:
        d.pop(k, None)
    return d


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """A stage record (``stage.json``) or a stage's ``config.json``, in the current form.

    Older forms differ in three ways, each mapped here and nowhere else:

    - a changed loss was named by a ``"variant"`` key beside the loss it changed (``"loss":
      "gaussian"``, ``"variant": "gaussian_original"``, with a ``"variant_note"``;
      ``"variant": "gaussian_learned"`` beside ``learn_gamma: true``; ``"variant": null``
      otherwise). The current form has no variant: the loss is the registered loss trained
      (``"loss": "gaussian_original"``; in a record, inside ``"sweep"``);
    - a record's ``"sweep"`` lacks the ``SweepConfig`` fields added after the stage was
      stored (weight decay, augmentation, ...): the stage was trained with the behaviour
      their defaults give, so they read as their defaults
      (:func:`corel_jax.rundir.upgrade_config`), and the stage stays complete for a
      configuration that leaves them at their defaults;
    - a ``config.json`` of an older format is read as the current one
      (:func:`corel_jax.rundir.upgrade_config`: ``format_version``, every field).

    A document in the current form comes back equal; ``doc`` is not modified.
    """
    doc = dict(doc)
    variant = doc.pop("variant", None)
    doc.pop("variant_note", None)
    if variant in VARIANT_LOSSES:
        if isinstance(doc.get("sweep"), dict):
            doc["sweep"] = {**doc["sweep"], "loss": variant}
        else:
            doc["loss"] = variant
    if isinstance(doc.get("sweep"), dict):
        doc["sweep"] = _upgrade_sweep(doc["sweep"])
    elif "sweep" not in doc and "stage" not in doc:  # a config.json: the library's upgrade
        from corel_jax.rundir import upgrade_config

        doc = upgrade_config(doc)
    return doc


def _upgrade_sweep(sweep: dict[str, Any]) -> dict[str, Any]:
    """A record's ``"sweep"`` with every ``SweepConfig`` field of the key it lacks at its
    default (as ``config.json`` holds it)."""
    from corel_jax.rundir import upgrade_config
    from corel_jax.train.config import SweepConfig

    full = upgrade_config(sweep)
    added = [f.name for f in dataclasses.fields(SweepConfig)
             if f.name not in sweep and f.name not in NOT_IN_KEY]
    return {**sweep, **{k: full[k] for k in added}}


def read_record(store: Path, *, verify: bool = True) -> dict[str, Any] | None:
    """The stage record of ``store`` in the current form (:func:`upgrade`), or None when it
    has none (not finished); with ``verify``, :class:`StageError` when a file it names is
    missing or differs from its hash. Records stored before the hashes existed are returned
    unchecked."""
    f = Path(store) / STAGE_FILE
    if not f.is_file():
        return None
    try:
        rec = json.loads(f.read_text())
    except ValueError as e:
        raise StageError(f"{f} is damaged ({e}); store the stage again") from None
    if not isinstance(rec, dict):
        raise StageError(f"{f} is damaged (not a JSON object); store the stage again")
    if verify:
        for name, digest in (rec.get("files") or {}).items():
            p = Path(store) / name
            if not p.is_file():
                raise StageError(f"{p} is missing (named in {f}); restore it from git")
            if sha256(p) != digest:
                raise StageError(f"{p} differs from the file the stage stored (SHA-256 in "
                                 f"{f}); restore it from git (`git checkout -- {p}`)")
    return upgrade(rec)


def seal_legacy(root: Path) -> list[Path]:
    """Adds the hashes to every stage record under ``root`` that has none (the files as
    they are now, i.e. as committed); returns the records changed."""
    changed = []
    for f in sorted(Path(root).rglob(STAGE_FILE)):
        rec = json.loads(f.read_text())
        if "files" not in rec:
            seal(f.parent, rec)
            changed.append(f)
    return changed


def upgrade_stores(root: Path) -> list[Path]:
    """Rewrites every stage under ``root`` whose ``stage.json`` or ``config.json`` is in an
    older form in the current one (:func:`upgrade`) and reseals it (the other files' hashes
    checked first, so a damaged stage is an error, not resealed); returns the records
    changed."""
    from corel_jax import rundir

    changed = []
    for f in sorted(Path(root).rglob(STAGE_FILE)):
        store = f.parent
        raw = json.loads(f.read_text())
        read_record(store)  # StageError if a stored file is damaged
        config_file = store / RUN_FILES[0]
        config = json.loads(config_file.read_text()) if config_file.is_file() else None
        new_config = upgrade(config) if config is not None else None
        new = upgrade(raw)
        if new == raw and new_config == config:
            continue
        unseal(store)
        if new_config != config:
            rundir.write_json(config_file, new_config)
        new.pop("files", None)
        seal(store, new)
        changed.append(f)
    return changed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--seal-legacy", metavar="DIR",
                      help="add file hashes to the stage records under DIR that have none")
    what.add_argument("--upgrade", metavar="DIR",
                      help="convert the stages under DIR stored in an older form to the "
                           "current one (stage.json and config.json), and reseal them")
    args = p.parse_args(argv)
    if args.upgrade:
        changed = upgrade_stores(Path(args.upgrade))
        print(f"upgraded {len(changed)} stage records under {args.upgrade}")
        return 0
    changed = seal_legacy(Path(args.seal_legacy))
    print(f"sealed {len(changed)} stage records under {args.seal_legacy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
