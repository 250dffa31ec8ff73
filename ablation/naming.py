"""Small naming and formatting helpers every layer may import (no dependencies).

One definition each: the folder name made from an experiment name, the paper's
name for a training-set size, a cell's human label and a duration on the console.
"""

from __future__ import annotations

import re


def safe_name(name: str) -> str:
    """``name`` as one folder name: only [A-Za-z0-9._-], no leading dot, so never ``..``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", str(name)).lstrip(".")
    return cleaned[:120] or "experiment"


def size_label(n_train: int | None, full_size: int | None) -> str:
    """The paper's names for training-set sizes: 42000 -> '42k'; None means the whole set."""
    n = full_size if n_train is None else n_train
    if n is None:
        return "full"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3700`` -> ``1h01m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
