"""The IDX file format (MNIST, Fashion-MNIST): parse, read with checksum checks, write.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the payload in C order. MNIST's image files have magic 2051 (``0x0803``: ubyte,
3 dims) and its label files 2049 (``0x0801``: ubyte, 1 dim).

>>> import numpy as np
>>> a = np.arange(6, dtype=np.uint8).reshape(2, 3)
>>> parse_idx(encode_idx(a)).tolist()
[[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from corel_jax.data.checksums import md5_hex
from corel_jax.errors import DataError, MissingDataError

# IDX dtype code -> numpy dtype (big-endian on disk).
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}

IMAGES_MAGIC = 0x0803  # 2051
LABELS_MAGIC = 0x0801  # 2049


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array of its shape.

    Args:
      raw: the whole file content.
      name: what to call the file in error messages.

    Returns:
      An array of the header's shape and dtype (native byte order). For ubyte files it is a
      read-only view of ``raw`` (no copy).

    Raises:
      DataError: a bad magic number, a truncated header, or a payload of the wrong length.
    """
    if len(raw) < 4:
        raise DataError(f"{name}: only {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or code not in _DTYPES or ndim == 0:
        raise DataError(
            f"{name}: bad IDX magic number {magic} ({magic:#010x}); expected "
            f"{IMAGES_MAGIC} for images or {LABELS_MAGIC} for labels (is this an IDX file?)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - header
    if have != need:
        raise DataError(
            f"{name}: IDX payload has {have} bytes but its header's shape {list(dims)} needs "
            f"{need} ({'truncated' if have < need else 'trailing bytes'}; the file is corrupt)"
        )
    array = np.frombuffer(raw, dtype, offset=header).reshape(dims)
    return array if dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (uint8, int8, int16, int32, float32 or float64)."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in _CODES or array.ndim == 0:
        raise ValueError(f"IDX stores 1+-D arrays of {sorted(map(str, _CODES))}; got {dtype}")
    code = _CODES[dtype]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed (mtime 0) when ``path`` ends in ``.gz``."""
    path = Path(path)
    data = encode_idx(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def read_idx(
    path: str | os.PathLike,
    *,
    md5: str | None = None,
    raw_md5: str | None = None,
    hint: str = "",
) -> np.ndarray:
    """Read an IDX file (gzip-compressed when its name ends in ``.gz``), checking its md5.

    Args:
      path: the file.
      md5: expected md5 of the file as stored (of the ``.gz`` for a compressed file).
      raw_md5: expected md5 of the decompressed payload. A ``.gz`` file passes when either
        checksum matches (a repackaged gzip holds the same payload under another header); an
        uncompressed file is checked against ``raw_md5`` only.
      hint: appended to every error message (e.g. where to download the file again).

    Returns:
      The array, as :func:`parse_idx`.

    Raises:
      MissingDataError: the file does not exist.
      DataError: bad gzip data, an md5 mismatch, or a malformed IDX payload; the message names
        the file and the expected checksum.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path.name} not found in {path.parent}{hint}")
    data = path.read_bytes()
    compressed = path.suffix == ".gz"
    wanted = [m for m in ((md5 if compressed else None), raw_md5) if m]
    expected = f"; expected md5 {' or '.join(wanted)}" if wanted else ""
    if compressed:
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(
                f"{path}: not a valid gzip file ({e}); it is truncated or corrupt{expected}{hint}"
            ) from None
    else:
        raw = data
    if wanted:
        ok = (compressed and md5 is not None and md5_hex(data) == md5) or (
            raw_md5 is not None and md5_hex(raw) == raw_md5
        )
        if not ok:
            got = md5_hex(data) + (f" (payload {md5_hex(raw)})" if compressed else "")
            raise DataError(f"{path}: md5 mismatch: got {got}{expected}{hint}")
    try:
        return parse_idx(raw, str(path))
    except DataError as e:
        raise DataError(f"{e}{expected}{hint}") from None
