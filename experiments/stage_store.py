"""The stage store: each finished stage's compact results, kept in git
(``experiments/results/<setting>/<profile>/stages/<stage>/``).

A stage folder holds ``config.json``, ``runs.json``, ``runs.csv``, ``curves.csv``, for final
stages ``clustering.csv``, and ``stage.json``: the stage record (what was trained, wall time,
hardware) with ``"files"``, the SHA-256 of every other file of the stage. ``stage.json`` is the
stage's "done" marker: :func:`seal` writes it last, once every other file is in place, so a
stage killed while being stored has no marker and is trained (or stored) again. Readers check
the hashes (:func:`read_record`), so a file changed or damaged after the stage was stored is
an error naming it, never a silently different number.

Stages stored before the hashes existed have no ``"files"``; ``python
experiments/stage_store.py --seal-legacy DIR`` adds them (the files as committed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

STAGE_FILE = "stage.json"
CLUSTERING_CSV = "clustering.csv"
#: the run-directory files a stage keeps (never parameters or representations)
RUN_FILES = ("config.json", "runs.json", "runs.csv", "curves.csv")


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


def read_record(store: Path, *, verify: bool = True) -> dict[str, Any] | None:
    """The stage record of ``store``, or None when it has none (not finished); with
    ``verify``, :class:`StageError` when a file it names is missing or differs from its hash.
    Records stored before the hashes existed are returned unchecked."""
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
    return rec


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seal-legacy", metavar="DIR", required=True,
                   help="add file hashes to the stage records under DIR that have none")
    args = p.parse_args(argv)
    changed = seal_legacy(Path(args.seal_legacy))
    print(f"sealed {len(changed)} stage records under {args.seal_legacy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
