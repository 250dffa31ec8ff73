"""``python -m ablation.ui``: the MLflow UI on this project's store, grouped by cell.

- :mod:`~ablation.ui.cli`: the command (``main``): checks, links, the server until a signal.
- :mod:`~ablation.ui.views`: the saved runs-table view (seeds grouped by cell) and links.
- :mod:`~ablation.ui.server`: the MLflow server process, its output, a clean stop.
"""

from ablation.tracking import resolve_uri  # the UI has no resolver of its own
from ablation.ui.cli import main, ready_text
from ablation.ui.server import (
    Server,
    base_url,
    is_loopback,
    port_problem,
    serve,
    shown_line,
)
from ablation.ui.views import (
    SHARED_VIEW_TAG,
    TRAINING_VIEW,
    experiment_links,
    judged_by,
    view_state,
)

__all__ = [
    "SHARED_VIEW_TAG",
    "TRAINING_VIEW",
    "Server",
    "base_url",
    "experiment_links",
    "is_loopback",
    "judged_by",
    "main",
    "port_problem",
    "ready_text",
    "resolve_uri",
    "serve",
    "shown_line",
    "view_state",
]
