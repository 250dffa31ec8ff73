"""What every figure shares: the style, the save hook, text handling, intervals, palettes.

One style for every figure (``STYLE``, applied by ``styled``). Text from the store goes
through ``txt`` so a ``$`` cannot trigger mathtext; labels are wrapped at spaces, never cut.
Every figure passes through ``save``, which hands it to the observers registered with
``capture`` (tests read the drawn artists). Colours come from colour-blind-safe palettes
only (seaborn's "colorblind" for categories, cividis/viridis for maps): no red-green map.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from scipy import stats as sps

DPI = 110
STYLE = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("paper", font_scale=1.15),
    "axes.titlesize": 10,
    "figure.titlesize": 11,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "savefig.dpi": DPI,
}
# The figures' interval rule, kept here so the figures do not depend on the report's
# statistics engine: a 95% t-interval of the mean over seeds, clipped to the metric's
# range, and none at all below MIN_SEEDS_FOR_BAND seeds (the report's tables say the same).
MIN_SEEDS_FOR_BAND = 3
LEVEL = 0.95
RANGE = "[0,\u00a0100]"  # a no-break space: wrapping never splits the range
CATEGORICAL = "colorblind"  # seaborn's colour-blind-safe categorical palette
SEQUENTIAL = "cividis"  # perceptually uniform, readable with red-green colour blindness
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_observers: list = []


def styled(fn):
    """Run a figure function inside the report's matplotlib style."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)

    return run


@contextmanager
def capture() -> Iterator[dict[str, Figure]]:
    """Collect every figure saved inside the block: ``{file name: Figure}`` (a test hook)."""
    drawn: dict[str, Figure] = {}

    def keep(path: Path, fig: Figure) -> None:
        drawn[path.name] = fig

    _observers.append(keep)
    try:
        yield drawn
    finally:
        _observers.remove(keep)


def txt(text, width: int = 0) -> str:
    """Plain text for matplotlib: ``$`` escaped; wrapped at spaces to ``width`` (never cut)."""
    s = str(text).replace("$", r"\$").replace("\n", " ")
    if width and len(s) > width:
        s = "\n".join(textwrap.wrap(s, width, break_long_words=False, break_on_hyphens=False))
    return s


def varying_words(labels: list[str]) -> list[str]:
    """Labels without the words every label shares (``data=60k`` when all cells have it)."""
    words = [str(lb).split() for lb in labels]
    common = set.intersection(*map(set, words)) if len(words) > 1 else set()
    kept = [" ".join(w for w in ws if w not in common) for ws in words]
    return kept if all(kept) and len(set(kept)) == len(kept) else [str(lb) for lb in labels]


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG. A figure with a layout engine (every figure here is made with
    constrained layout) keeps its artists inside its canvas and is saved as it is; only one
    without is cropped to its content (``bbox_inches="tight"`` draws the figure twice, to
    measure it first: ~10% of a report's time when every figure took it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tight = None if fig.get_layout_engine() is not None else "tight"
    fig.savefig(path, dpi=DPI, bbox_inches=tight)
    for observer in _observers:
        observer(path, fig)
    return path


def clipped_interval(values, low: float = 0.0, high: float = 100.0) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` over the finite values: a 95% t-interval clipped to ``[low, high]``;
    ``lo``/``hi`` are NaN (no band, no bar) below ``MIN_SEEDS_FOR_BAND`` values."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < MIN_SEEDS_FOR_BAND:
        return mean, math.nan, math.nan
    half = float(sps.t.ppf(0.5 + LEVEL / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, max(mean - half, low), min(mean + half, high)


def categorical(n: int) -> list[tuple]:
    """``n`` colour-blind-safe colours; past 10, evenly spaced along viridis (no red-green)."""
    if n <= 10:
        return sns.color_palette(CATEGORICAL, max(n, 1))[:n]
    return sns.color_palette("viridis", n)


def shade(colour, k: int, m: int) -> tuple:
    """The ``k``-th of ``m`` shades of one hue: the hue itself first, then lighter and darker
    versions in turn (a level of the second colour factor within the first one's hue)."""
    rgb = np.asarray(mpl.colors.to_rgb(colour))
    if k == 0 or m <= 1:
        return tuple(rgb)
    amount = 0.55 * ((k + 1) // 2) / max(1, m // 2)
    target = np.ones(3) if k % 2 else np.zeros(3)
    amount = amount if k % 2 else amount * 0.7  # darker shades need less to stand apart
    return tuple(rgb + (target - rgb) * amount)


def grid(n: int, width: float = 4.6, height: float = 3.6, sharey: bool = True):
    """``n`` panels, at most three a row; every panel labels its own x ticks (with shared x,
    matplotlib labels only the bottom row, and a panel above a shorter last row was left
    without them)."""
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols + 2.2, height * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=sharey, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[:n]:
        ax.xaxis.set_tick_params(labelbottom=True)
    return fig, axes[:n]


def spread_labels(ys: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Positions for labels wanted at ``ys`` (in display order), at least ``gap`` apart and
    inside ``[lo, hi]``: overlapping labels are pushed apart around their mean position."""
    if not ys:
        return []
    order = np.argsort(ys, kind="stable")
    placed = np.asarray(ys, float)[order].copy()
    for _ in range(len(placed) * 4):
        moved = False
        for i in range(1, len(placed)):
            overlap = gap - (placed[i] - placed[i - 1])
            if overlap > 1e-12:
                placed[i - 1] -= overlap / 2
                placed[i] += overlap / 2
                moved = True
        shift = max(0.0, lo - placed[0]) - max(0.0, placed[-1] - hi)
        placed += shift
        if not moved and not shift:
            break
    out = np.empty_like(placed)
    out[order] = placed
    return list(out)
