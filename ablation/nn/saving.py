"""``MLP.save`` / ``MLP.load``: one ``.npz`` file, plain arrays, no pickle."""

from __future__ import annotations

import os

import numpy as np

FORMAT_VERSION = 1


def save(net, path) -> None:
    """Write architecture, init, dtype, seed and ``W0, b0, W1, b1, ...`` of ``net``."""
    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "sizes": np.array(net.sizes, dtype=np.int64),
        "activations": np.array(net.activations, dtype=np.str_).reshape(-1),
        "init": np.array(net.init, dtype=np.str_),
        "dtype": np.array(net.dtype.name, dtype=np.str_),
        "seed": np.array(-1 if net.seed is None else int(net.seed), dtype=np.int64),
    }
    for i, (W, b) in enumerate(net.params):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    if isinstance(path, str | os.PathLike):
        with open(path, "wb") as fh:  # keep the exact name (np.savez would append .npz)
            np.savez(fh, **arrays)
    else:
        np.savez(path, **arrays)


def read(path) -> dict:
    """The ``MLP(...)`` keyword arguments stored in a file written by :func:`save`."""
    with np.load(path, allow_pickle=False) as data:
        missing = {"sizes", "activations", "init", "dtype", "W0", "b0"} - set(data.files)
        if missing:
            raise ValueError(f"{path!r} is not a saved MLP (missing {sorted(missing)})")
        sizes = [int(s) for s in data["sizes"]]
        seed = int(data["seed"]) if "seed" in data.files else -1
        n_layers = len(sizes) - 1
        if n_layers < 1 or any(f"W{i}" not in data.files for i in range(n_layers)):
            raise ValueError(f"{path!r} is not a saved MLP (a layer is missing)")
        kwargs = {
            "sizes": sizes,
            "activations": [str(a) for a in data["activations"]],
            "init": str(data["init"]),
            "seed": None if seed < 0 else seed,
            "dtype": str(data["dtype"]),
            "params": [(data[f"W{i}"], data[f"b{i}"]) for i in range(n_layers)],
        }
    return kwargs
