"""Turn tracked runs into the comparison a paper would print.

    from ablation.report import build_report
    build_report("paper_table3", tracking_uri="sqlite:///mlruns/mlflow.db")

or ``python -m ablation.report --experiment paper_table3``. Reads only the MLflow store.
"""

from ablation.report.build import build, build_report
from ablation.report.errors import ReportError

__all__ = ["ReportError", "build", "build_report"]
