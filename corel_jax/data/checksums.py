"""MD5 checksums of the dataset files, and the one function that checks them.

Each :class:`FileSpec` holds two checksums: the md5 of the published ``.gz`` file and the md5 of
its decompressed payload. Repackaged copies (Debian's ``dataset-fashion-mnist`` strips the gzip
file name and mtime) have a different ``.gz`` md5 but the same payload, so a file passes when
either matches.
"""

from __future__ import annotations

import dataclasses
import hashlib


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One expected file: its name, the md5 of the file and the md5 of its decompressed payload."""

    filename: str
    md5: str
    raw_md5: str | None = None


def md5_hex(data: bytes) -> str:
    """The md5 of ``data`` as 32 lower-case hex digits.

    >>> md5_hex(b"")
    'd41d8cd98f00b204e9800998ecf8427e'
    """
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# name -> (train images, train labels, test images, test labels)
IDX_FILES: dict[str, tuple[FileSpec, FileSpec, FileSpec, FileSpec]] = {
    "mnist": (
        FileSpec(
            "train-images-idx3-ubyte.gz",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "6bbc9ace898e44ae57da46a324031adb",
        ),
        FileSpec(
            "train-labels-idx1-ubyte.gz",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "a25bea736e30d166cdddb491f175f624",
        ),
        FileSpec(
            "t10k-images-idx3-ubyte.gz",
            "9fb629c4189551a2d022fa330f9573f3",
            "2646ac647ad5339dbf082846283269ea",
        ),
        FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            "ec29112dd5afa0611ce80d1b7f02629c",
            "27ae3e4e09519cfbb04c329615203637",
        ),
    ),
    "fashion_mnist": (
        FileSpec(
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        ),
        FileSpec(
            "train-labels-idx1-ubyte.gz",
            "25c81989df183df01b3e8a0aad5dffbe",
            "9018921c3c673c538a1fc5bad174d6f9",
        ),
        FileSpec(
            "t10k-images-idx3-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
            "8181f5470baa50b63fa0f6fddb340f0a",
        ),
        FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            "bb300cfdad3c16e7a12a480ee83cd310",
            "15d484375f8d13e6eb1aabb0c3f46965",
        ),
    ),
}
