"""Turn tracked runs into the comparison a paper would print.

    from ablation.report import build_report
    build_report("paper_table3", tracking_uri="sqlite:///mlruns/mlflow.db")

or ``python -m ablation.report --experiment paper_table3``. Reads only the MLflow store.
"""

from ablation.report.errors import ReportError

__all__ = ["ReportError", "build", "build_report"]


def __getattr__(name: str):
    """``build`` and ``build_report`` load pandas, statsmodels and matplotlib: imported on first
    use, so ``python -m ablation.report`` refuses bad arguments or a missing store at once."""
    if name in ("build", "build_report"):
        from ablation.report import builder

        return getattr(builder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
