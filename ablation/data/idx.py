"""MNIST-style IDX files (LeCun's format), raw or gzip-compressed.

A directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally ending in
`.gz` (the `*.idx3-ubyte` spelling of some mirrors is accepted too). Gzip is
recognised by its magic bytes 1f 8b, not by the file name. Reading is as fast
as reading a cache would be, so these files are not cached.

Format: a big-endian uint32 magic 0x000008NN (unsigned bytes, NN dimensions:
2051 for images (n, rows, cols), 2049 for labels (n,)), NN big-endian uint32
sizes, then the uint8 data in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ablation.data.dataset import DataError, Source

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _candidates(directory: Path, stem: str) -> list[Path]:
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some mirrors name it
    return [directory / name for name in (stem, stem + ".gz", dotted, dotted + ".gz")]


def find_files(directory: str | Path) -> dict[str, Path]:
    """The four IDX files in `directory`; DataError listing every path tried if any is missing."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(
            f"mnist_idx needs a directory holding the four MNIST IDX files, but {directory} "
            f"is not a directory; pass path=<folder with {', '.join(FILES.values())} (or .gz)>"
        )
    found, missing = {}, []
    for key, stem in FILES.items():
        existing = [p for p in _candidates(directory, stem) if p.is_file()]
        if existing:
            found[key] = existing[0]
        else:
            missing.extend(str(p) for p in _candidates(directory, stem))
    if missing:
        raise DataError(
            f"IDX files missing in {directory}; looked for: {', '.join(missing)}. Put the MNIST "
            f"IDX files (raw or .gz) there, or load the packaged copy with load('mnist')"
        )
    return found


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array in the IDX file at `path`, whose magic number must be `magic`."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read IDX file {path}: {err}") from err
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(
                f"IDX file {path} is gzip-compressed but truncated or corrupt ({err}); "
                f"download or copy it again"
            ) from err
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    if len(data) < 4:
        raise DataError(
            f"IDX file {path} has {len(data)} bytes, too few for an IDX header; "
            f"it is empty or truncated"
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(
            f"IDX file {path} has magic number {found} (0x{found:08x}), expected {magic} "
            f"for an IDX {kind} file (images 2051, labels 2049); is it the right file?"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"IDX file {path} is truncated inside its header ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(
            f"IDX file {path}: header says shape {shape}, i.e. {expected} data bytes, but the "
            f"file has {len(data) - header}; it is truncated or damaged, copy it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _check_pair(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path):
    if len(images) != len(labels):
        raise DataError(
            f"IDX files disagree: {images_path} has {len(images)} images but {labels_path} has "
            f"{len(labels)} labels; they must come from the same set"
        )
    if len(labels) and labels.max() > 9:
        bad = int(np.flatnonzero(labels > 9)[0])
        raise DataError(
            f"IDX labels file {labels_path}: label {labels[bad]} at index {bad} is outside 0-9"
        )


def load_source(directory: str | Path) -> Source:
    """MNIST-format train and test sets from IDX files in `directory`."""
    paths = find_files(directory)
    arrays = {
        key: read_idx(path, IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC)
        for key, path in paths.items()
    }
    for split in ("train", "test"):
        _check_pair(
            arrays[f"{split}_images"],
            arrays[f"{split}_labels"],
            paths[f"{split}_images"],
            paths[f"{split}_labels"],
        )
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(
            f"IDX files disagree: {paths['train_images']} has images of "
            f"{arrays['train_images'].shape[1:]} but {paths['test_images']} of "
            f"{arrays['test_images'].shape[1:]}"
        )
    if len(arrays["train_labels"]) == 0 or len(arrays["test_labels"]) == 0:
        empty = paths["train_labels" if len(arrays["train_labels"]) == 0 else "test_labels"]
        raise DataError(f"IDX file {empty} holds no rows; a train and a test set need one at least")
    return Source(**arrays, source=str(Path(directory).expanduser()))
