"""How cells map to panels, colours and markers: one ``Encoding`` per report, shared by
every figure that draws cells, so a level keeps its colour whatever the figure.

The colour is hierarchical: one colour-blind-safe hue per level of the first colour factor,
and shades of that hue for the levels of the others (``random, none`` dark blue, ``random,
l2`` light blue). The interaction plot colours its lines by the first colour factor with the
same hues, so "random" is blue in every figure of a report.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ablation.report.cells import sorted_levels
from ablation.report.figures._base import MARKERS, categorical, shade, txt


@dataclass(frozen=True)
class Encoding:
    """How cells map to panels and colours; one per report, shared by every figure."""

    facet: str | None  # the factor that splits panels (the one with most levels)
    colour: tuple[str, ...]  # the factors whose level combination picks the colour
    palette: dict[str, tuple]  # legend label -> colour
    facet_levels: tuple = ()
    hues: dict = None  # level of the first colour factor -> its hue

    def label(self, row) -> str:
        return ", ".join(str(row[f]) for f in self.colour) if self.colour else "all runs"

    @property
    def title(self) -> str:
        return ", ".join(self.colour)

    def marker(self, label: str) -> str:
        """A marker per legend label (a second cue beside the colour)."""
        return MARKERS[list(self.palette).index(label) % len(MARKERS)]


def encoding(fin: pd.DataFrame, vary: list[str]) -> Encoding:
    """Facet by the varying factor with most levels (ties: the later one); colour the rest."""
    moving = [f for f in vary if f in fin and fin[f].nunique() > 1]
    facet = max(reversed(moving), key=lambda f: fin[f].nunique()) if len(moving) > 1 else None
    colour = tuple(f for f in moving if f != facet)
    levels = [sorted_levels(f, fin[f].unique()) for f in colour]
    seen = set(map(tuple, fin[list(colour)].to_numpy())) if colour else set()
    combos = [c for c in itertools.product(*levels) if c in seen] if colour else [()]
    labels = [", ".join(map(str, c)) if c else "all runs" for c in combos]
    firsts = list(dict.fromkeys(c[0] for c in combos)) if colour else [None]
    hues = dict(zip(firsts, categorical(len(firsts)), strict=True))
    colours = []
    for c in combos:
        group = [d for d in combos if (d[:1] == c[:1])]
        colours.append(shade(hues[c[0] if c else None], group.index(c), len(group)))
    facets = tuple(sorted_levels(facet, fin[facet].unique())) if facet else ()
    palette = dict(zip(labels, colours, strict=True))
    return Encoding(facet, colour, palette, facets, {k: tuple(v) for k, v in hues.items()})


def legend(
    fig: Figure, enc: Encoding, extra: list[tuple] = (), markers: bool = True, hollow=False
) -> None:
    """The figure's one legend, outside on the right: every cell colour (and marker)."""
    face = {"mfc": "none", "mew": 1.2} if hollow else {}
    handles = [
        Line2D([], [], color=c, lw=2, marker=enc.marker(lb) if markers else None, ms=5, **face)
        for lb, c in enc.palette.items()
    ]
    labels = [txt(lb, 24) for lb in enc.palette]
    for handle, label in extra:
        handles.append(handle)
        labels.append(txt(label, 24))
    fig.legend(handles, labels, loc="outside right center", title=txt(enc.title, 24) or None)
