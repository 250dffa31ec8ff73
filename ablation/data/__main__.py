"""python -m ablation.data info|verify: what data is available, cached, and intact.

info    for each source: where it comes from, sizes, checksum, class counts,
        cache file and whether it is cached (reads, never writes the cache)
verify  re-read the packaged MNIST archive against the pinned checksums and
        check every cache file; exit status 1 if anything is wrong
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from ablation.data import cache, idx, kaggle, packaged
from ablation.data.dataset import SPLITS, DataError, Source
from ablation.data.loading import DATASETS, kaggle_cache_path, read_digits
from ablation.errors import print_error, printable
from ablation.startup import tune_gc


def _counts(labels: np.ndarray) -> str:
    return " ".join(f"{c}:{n}" for c, n in enumerate(np.bincount(labels, minlength=10)))


def _describe(name: str, src: Source, cache_file: Path | None) -> None:
    src = src.with_checksum()
    print(f"{name}: {DATASETS[name].description}")
    print(printable(f"  source      {src.source}"))
    shape = "x".join(map(str, src.train_images.shape[1:]))
    print(f"  train/test  {len(src.train_labels)} / {len(src.test_labels)} images of {shape}")
    print(f"  checksum    {src.checksum}")
    print(f"  train       {_counts(src.train_labels)}")
    print(f"  test        {_counts(src.test_labels)}")
    if cache_file is None:
        print("  cache       not cached (reading the source is as fast as a cache)")
    else:
        state = "cached" if cache_file.is_file() else "not cached"
        print(printable(f"  cache       {cache_file} ({state})"))


def _kaggle_source(csv: Path, cache_dir: Path) -> tuple[Source, Path]:
    where = kaggle_cache_path(kaggle.file_sha256(csv), cache_dir)
    arrays = cache.read(where, ("train_images", "train_labels"))
    if arrays is None:
        images, labels = kaggle.read_csv(csv)
        arrays = {"train_images": images, "train_labels": labels}
    test = packaged.load_source(cache_dir, write_cache=False)
    return Source(
        **arrays,
        test_images=test.test_images,
        test_labels=test.test_labels,
        source=f"{csv} (test: official MNIST test set)",
    ), where


def info(cache_dir: Path, idx_dir: str | None, csv: str | None) -> int:
    print(
        printable(f"cache directory: {cache_dir}") + " (set by --cache-dir or ${cache.CACHE_ENV})\n"
    )
    mnist_cache = packaged.cache_path(cache_dir)
    was_cached = mnist_cache.is_file()
    _describe("mnist", packaged.load_source(cache_dir, write_cache=False), mnist_cache)
    if not was_cached:
        print("  (verified against the pinned checksums; `load('mnist')` will cache it)")
    _describe("digits", read_digits(None, cache_dir), None)
    if idx_dir:
        _describe("mnist_idx", idx.load_source(idx_dir), None)
    else:
        print(f"mnist_idx: {DATASETS['mnist_idx'].description}; pass --idx-dir DIR to inspect")
    if csv:
        _describe("kaggle_csv", *_kaggle_source(kaggle.check_path(csv), cache_dir))
    else:
        cached = sorted(cache_dir.glob("kaggle_csv-*.npz"))
        print(
            f"kaggle_csv: {DATASETS['kaggle_csv'].description}; pass --csv FILE to inspect"
            f" ({len(cached)} cached: {', '.join(p.name for p in cached) or 'none'})"
        )
    return 0


def verify(cache_dir: Path) -> int:
    problems = 0
    path = packaged.archive_path()
    try:
        packaged.read_archive(path)
        print(f"ok    {path}: all four arrays match the pinned SHA-256 and official counts")
    except DataError as err:
        problems += 1
        print(printable(f"FAIL  {err}"))
    checks = [(packaged.cache_path(cache_dir), SPLITS, packaged.DATASET_SHA256)]
    checks += [
        (p, ("train_images", "train_labels"), None)
        for p in sorted(cache_dir.glob("kaggle_csv-*.npz"))
    ]
    for where, names, expected in checks:
        if not where.is_file():
            print(f"--    {where}: not cached")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ok = cache.read(where, names, expected) is not None
        problems += not ok
        line = f"ok    {where}" if ok else f"FAIL  {caught[-1].message}; the next load rebuilds it"
        print(printable(line))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    tune_gc()  # ablation.startup: before the stack is imported
    parser = argparse.ArgumentParser(
        prog="python -m ablation.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["info", "verify"])
    parser.add_argument(
        "--cache-dir", help=f"cache directory (default: ${cache.CACHE_ENV} or the user cache dir)"
    )
    parser.add_argument("--idx-dir", help="info: also describe the IDX files in this directory")
    parser.add_argument("--csv", help="info: also describe this Kaggle train.csv")
    args = parser.parse_args(argv)
    cache_dir = cache.cache_dir(args.cache_dir)
    try:
        if args.command == "info":
            return info(cache_dir, args.idx_dir, args.csv)
        return verify(cache_dir)
    except DataError as err:
        print_error(f"error: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
