"""Kaggle "Digit Recognizer" train.csv: header `label,pixel0,...,pixel783`, then
one row per image (42000 in Kaggle's file) with a label 0-9 and 784 pixels 0-255.

Parsing 42000 rows takes about a second, so the decoded uint8 arrays are cached
under the SHA-256 of the CSV file's bytes. The test set is the official MNIST
test set from the packaged archive (Kaggle's test.csv has no labels).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from ablation.data.dataset import DataError

N_PIXELS = 784
COLUMNS = ["label"] + [f"pixel{i}" for i in range(N_PIXELS)]
HEADER = ",".join(COLUMNS)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def check_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"Kaggle CSV {path} does not exist or is not a file; pass path=<Kaggle Digit "
            f"Recognizer train.csv>"
        )
    return path


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8) from a Kaggle train.csv."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read Kaggle CSV {path}: {err}") from err
    if not raw.strip():
        raise DataError(
            f"Kaggle CSV {path} is empty; expected the header '{HEADER[:30]}...,pixel783' "
            f"and one row per image"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            f"Kaggle CSV {path} is not a text file (byte {err.start} is not UTF-8); "
            f"is it compressed? Pass the unpacked train.csv"
        ) from err
    lines = text.splitlines()
    header = lines[0].strip()
    if header != HEADER:
        n_cols = len(header.split(","))
        raise DataError(
            f"Kaggle CSV {path} line 1: header {header[:40]!r}... ({n_cols} columns) is not "
            f"'label,pixel0,...,pixel783' (785 columns); is it Kaggle's train.csv?"
        )
    rows = lines[1:]
    while rows and not rows[-1].strip():
        rows.pop()
    if not rows:
        raise DataError(f"Kaggle CSV {path} has a header but no data rows")
    for i, row in enumerate(rows):
        if row.count(",") != N_PIXELS:
            found = "is empty" if not row.strip() else f"has {row.count(',') + 1} columns"
            raise DataError(
                f"Kaggle CSV {path} line {i + 2} {found}, expected {N_PIXELS + 1} "
                f"(label + {N_PIXELS} pixels)"
            )
    try:
        table = np.loadtxt(rows, delimiter=",", dtype=np.int64, comments=None, ndmin=2)
    except ValueError:
        raise _locate_bad_cell(path, rows) from None
    labels, pixels = table[:, 0], table[:, 1:]
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise DataError(
            f"Kaggle CSV {path} line {bad[0] + 2}: label {labels[bad[0]]} is outside 0-9"
        )
    bad_row, bad_col = np.nonzero((pixels < 0) | (pixels > 255))
    if bad_row.size:
        r, c = bad_row[0], bad_col[0]
        raise DataError(
            f"Kaggle CSV {path} line {r + 2}, column pixel{c}: value {pixels[r, c]} "
            f"is outside 0-255"
        )
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def _locate_bad_cell(path: Path, rows: list[str]) -> DataError:
    for i, row in enumerate(rows):
        for column, cell in zip(COLUMNS, row.split(","), strict=True):
            if not _INTEGER.fullmatch(cell):
                return DataError(
                    f"Kaggle CSV {path} line {i + 2}, column {column}: {cell!r} is not an "
                    f"integer; every cell must be a whole number"
                )
    return DataError(f"Kaggle CSV {path}: numpy cannot parse it as integers")


def overlap_with_test(train_images: np.ndarray, test_images: np.ndarray) -> int:
    """How many training images are pixel-identical to some test image."""
    seen = set(map(bytes, test_images.reshape(len(test_images), -1)))
    return sum(bytes(row) in seen for row in train_images.reshape(len(train_images), -1))
