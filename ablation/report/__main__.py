"""``python -m ablation.report --experiment NAME``: write report.md/.html, print the comparison."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ablation.errors import print_error, printable
from ablation.report.errors import ReportError
from ablation.startup import tune_gc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ablation.report",
        description="Build a Markdown + HTML report (tables, statistics, figures) of one "
        "ablation study from the MLflow store.",
    )
    p.add_argument("--experiment", required=True, help="MLflow experiment name of the study")
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///<cwd>/mlruns/mlflow.db)",
    )
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument("--parent", default=None, help="only child runs of this sweep (parent run id)")
    p.add_argument(
        "--filter",
        default=None,
        dest="filter_string",
        help="extra MLflow run filter, e.g. \"params.`optim.lr` = '0.1'\"",
    )
    p.add_argument(
        "--reference",
        default="ghimire2023",
        help="packaged paper results to compare against ('none' to skip; default ghimire2023)",
    )
    p.add_argument(
        "--roc-cell",
        default=None,
        help='cell label for ROC/PR curves, e.g. "init=kaiming reg=l2 data=60k" '
        "(default: the best cell)",
    )
    p.add_argument(
        "--metric",
        default=None,
        help="metric(s) to compare cells by, comma-separated, e.g. test/acc,time/fit_s "
        "(default: the study's task.metric, else test/acc)",
    )
    p.add_argument(
        "--goal",
        default=None,
        help="max (higher is better) or min, one for all metrics or one per metric "
        "(default: the study's task.goal, else max; losses, errors and times: min)",
    )
    p.add_argument(
        "--contrasts",
        default=None,
        help="the study's confirmatory contrasts, ';'-separated, e.g. "
        '"init: kaiming vs random; reg: l2 vs none within init=random" '
        "(default: the study's contrasts, declared in its config)",
    )
    p.add_argument(
        "--calibrated",
        default=None,
        metavar="ROW",
        help="paper row(s) a setting of this study was read off, ';'-separated, e.g. "
        '"Random init (42k)": marked in the table and figure, their match is not evidence',
    )
    p.add_argument("--no-figures", action="store_true", help="tables and statistics only")
    return p


def comparison_text(comp) -> str:
    """The paper-vs-ours table as aligned plain text (mean [95% t-interval, clipped to 0-100],
    or the seeds' values below 3 seeds; median; verdict with its precision rule)."""
    from ablation.report.sections import fmt_ci

    rows = [
        {
            "paper row": r["label"],
            "paper test": f"{r['paper_test']:.1f}",
            "ours test mean [95% CI]": fmt_ci(
                r["ours_test"], r["ours_test_lo"], r["ours_test_hi"], 2, r["ours_test_values"]
            ),
            "median": "—"
            if r["ours_test_median"] != r["ours_test_median"]
            else f"{r['ours_test_median']:.2f}",
            "n": r["n"],
            "delta": "—" if r["delta_test"] != r["delta_test"] else f"{r['delta_test']:+.2f}",
            "verdict": f"{r['verdict']} (calibration row)" if r.get("calibrated") else r["verdict"],
        }
        for _, r in comp.iterrows()
    ]
    import pandas as pd

    return pd.DataFrame(rows).to_string(index=False)


def _not_a_folder(out: str) -> Path | None:
    """The first existing part of ``out`` that is not a folder (None: ``out`` can be one)."""
    path = Path(out).resolve()
    for part in (path, *path.parents):
        if part.exists():
            return None if part.is_dir() else part
    return None


def main(argv: list[str] | None = None) -> int:
    tune_gc()  # ablation.startup: before the stack is imported
    args = _parser().parse_args(argv)
    blocker = _not_a_folder(args.out)
    if blocker is not None:
        print(
            f"error: --out {printable(args.out)}: {printable(str(blocker))} is a file, "
            "not a folder; pass a folder (it is created if missing)",
            file=sys.stderr,
        )
        return 2
    from ablation import tracking

    try:  # a store it cannot read: refused before MLflow, pandas and statsmodels load
        uri = tracking.resolve_uri(args.tracking_uri)
        tracking.retry(tracking.check_store_file, uri, reading=True)
    except tracking.TrackingError as exc:
        print_error(f"error: {exc}")
        return 2
    from ablation.report.builder import ReportWriteError, build

    reference = None if args.reference.lower() in ("none", "") else args.reference
    try:
        result = build(
            args.experiment,
            tracking_uri=args.tracking_uri,
            out_dir=args.out,
            parent=args.parent,
            filter_string=args.filter_string,
            reference=reference,
            roc_cell=args.roc_cell,
            make_figures=not args.no_figures,
            metric=args.metric,
            goal=args.goal,
            contrasts=args.contrasts,
            calibrated=args.calibrated,
        )
    except ReportWriteError as exc:  # disk full, file-size limit: the old report is intact
        print_error(f"error: {exc}")
        return 1
    except ReportError as exc:
        print_error(f"error: {exc}")
        return 2
    print(printable(str(result.markdown)))
    if result.comparison is not None:
        print()
        print(printable(comparison_text(result.comparison)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
