"""Datasets for the ablation grids: float32 features in [0, 1], int64 labels 0..9.

    from ablation.data import load
    ds = load("mnist", n_train=42000, seed=0)      # the paper's 42k cell
    ds.X_train, ds.y_train, ds.X_test, ds.y_test   # test = the official 10k MNIST test set

Sources are listed in `DATASETS` (see `ablation.data.loading`); every bad input
raises `DataError` (a ValueError). Environment variables: ABLATION_CACHE_DIR
(cache directory, overridden by `cache_dir=`) and ABLATION_MNIST_ARCHIVE (use
another copy of the packaged MNIST archive). `python -m ablation.data info`
shows what is available and cached.
"""

from ablation.data.dataset import DataError, Dataset
from ablation.data.loading import DATASETS, DatasetSpec, data_label, load, register

__all__ = ["DATASETS", "DataError", "Dataset", "DatasetSpec", "data_label", "load", "register"]
