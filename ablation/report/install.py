"""Writing a report safely: built in a hidden folder beside the target and moved into
place file by file (a rename each) only once every file is complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ablation.report.errors import ReportError

FIGURE_NAMES = (
    "paper_vs_ours.png",
    "learning_curves.png",
    "learning_curves_val.png",
    "accuracy_by_factor.png",
    "per_class_recall.png",
    "confusion_best.png",
    "confusion_worst.png",
    "roc.png",
    "pr.png",
    "misclassified.png",
)
#: Files the report owns in its folder; anything else there is the user's and is left alone
#: (``effects_<metric>.csv`` of further metrics too).
REPORT_FILES = (
    "report.md",
    "report.html",
    "summary.csv",
    "runs.csv",
    "effects.csv",
    "paper_vs_ours.csv",
)
OPTIONAL_FILES = ("paper_vs_ours.csv",)


class ReportWriteError(ReportError):
    """The report could not be written (disk full, file-size limit, permissions)."""


@contextlib.contextmanager
def staging():
    """Stage folders made inside this block are removed if it fails; an OSError while
    writing becomes one ``ReportWriteError`` line. ``stages.append`` registers a folder."""
    stages: list[Path] = []
    try:
        yield stages
    except OSError as err:
        where = stages[0].parent if stages else err.filename or "the --out folder"
        raise ReportWriteError(
            f"cannot write the report to {where}: {err.strerror or err}; free space or pass --out"
        ) from None
    finally:
        for stage in stages:
            shutil.rmtree(stage, ignore_errors=True)


def new_stage(target: Path, stages: list[Path]) -> Path:
    """A hidden folder beside ``target`` (same file system, so moving out of it is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    stages.append(stage)
    return stage


def install(stage: Path, target: Path) -> None:
    """Move the finished report from ``stage`` into ``target``, file by file with
    ``os.replace`` (a rename: no file is ever seen half-written), figures first and
    report.html last; then drop report files this build did not make. Other files in
    ``target`` are left alone."""
    (target / "figures").mkdir(parents=True, exist_ok=True)
    made = {p.name for p in (stage / "figures").glob("*.png")}
    for name in sorted(made):
        os.replace(stage / "figures" / name, target / "figures" / name)
    for name in FIGURE_NAMES:
        if name not in made:
            (target / "figures" / name).unlink(missing_ok=True)
    extra = sorted(p.name for p in stage.glob("effects_*.csv"))
    for old in target.glob("effects_*.csv"):
        if old.name not in extra:
            old.unlink(missing_ok=True)
    for name in extra:
        os.replace(stage / name, target / name)
    for name in sorted(REPORT_FILES, key=lambda n: n == "report.html"):
        if (stage / name).exists():
            os.replace(stage / name, target / name)
        elif name in OPTIONAL_FILES:
            (target / name).unlink(missing_ok=True)
