"""Finding a dataset's folder inside the ``data_dir`` the user gave."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_dir(data_dir: str | os.PathLike, name: str, marker: str) -> Path:
    """``data_dir`` itself, or ``data_dir/name`` when only that holds the file ``marker``.

    So a data root with one folder per dataset (``root/mnist/...``, ``root/ag_news/...``) works
    as well as the dataset's own folder.
    """
    root = Path(data_dir).expanduser()
    sub = root / name
    if not (root / marker).exists() and (sub / marker).exists():
        return sub
    return root
