"""mkdocs hook: the reproduction's pages are pages of the site, at their repository paths.

The findings (``experiments/README.md``), the per-setting reports and discussions and the
benchmark results (``experiments/results/**.md``, with the figures they show) are written
and regenerated in ``experiments/``, not in ``docs/``. This adds them to the site under
``experiments/``, so the relative links between them work both on the site and when the
repository is read directly, and a page of ``docs/`` links to them as
``../experiments/results/<setting>/<profile>/report.md``. The stage stores
(``experiments/results/**/stages/``: data) are left out, and so are the evaluator's
reports (``evaluator_report.md``), whose figures are not committed.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = (".md", ".png")


def pages(root: Path = ROOT) -> list[str]:
    """The files added, as paths relative to the repository root."""
    found = ["experiments/README.md"]
    for path in sorted((root / "experiments" / "results").rglob("*")):
        rel = path.relative_to(root)
        if (path.is_file() and path.suffix in SUFFIXES and "stages" not in rel.parts
                and path.name != "evaluator_report.md"):
            found.append(rel.as_posix())
    return found


def on_files(files: Files, config) -> Files:
    for rel in pages():
        # the results are reached through links, not the navigation: not listed as missing
        inclusion = (InclusionLevel.INCLUDED if rel == "experiments/README.md"
                     else InclusionLevel.NOT_IN_NAV)
        files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"], inclusion=inclusion))
    return files
