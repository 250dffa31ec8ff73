"""Published results to compare against, stored as package data (``references/*.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

from ablation.report.errors import ReportError


@dataclass(frozen=True)
class ReferenceRow:
    """One row of a paper's results table: the cell it describes and its accuracies (%)."""

    label: str
    factors: dict[str, str]
    train_acc: float
    test_acc: float
    source: str
    note: str = ""


@dataclass(frozen=True)
class Reference:
    key: str
    citation: str
    rows: list[ReferenceRow]
    protocol: dict = field(default_factory=dict)
    hardest_digits: list[int] = field(default_factory=list)
    hardest_digits_note: str = ""
    #: the paper's own setting of factors its rows do not name (e.g. depth, optimiser):
    #: preferred when a study varies those too
    setting: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Reference({self.key!r}, {len(self.rows)} rows)"


def available() -> list[str]:
    """Names of the packaged references (file stems)."""
    folder = resources.files("ablation.report") / "references"
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def load_reference(key: str) -> Reference:
    """Load a packaged reference by name, e.g. ``load_reference("ghimire2023")``."""
    names = available()
    if key not in names:
        raise ReportError(f"unknown reference {key!r}; choose one of: {', '.join(names)}")
    text = (resources.files("ablation.report") / "references" / f"{key}.json").read_text("utf-8")
    raw = json.loads(text)
    rows = [
        ReferenceRow(
            label=r["label"],
            factors={k: str(v) for k, v in r["factors"].items()},
            train_acc=float(r["train_acc"]),
            test_acc=float(r["test_acc"]),
            source=r.get("source", ""),
            note=r.get("note", ""),
        )
        for r in raw["rows"]
    ]
    return Reference(
        key=raw.get("key", key),
        citation=raw.get("citation", key),
        rows=rows,
        protocol=raw.get("protocol", {}),
        hardest_digits=[int(d) for d in raw.get("hardest_digits", [])],
        hardest_digits_note=raw.get("hardest_digits_note", ""),
        setting={k: str(v) for k, v in raw.get("setting", {}).items()},
    )
