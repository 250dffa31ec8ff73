"""The report's sections, one per module, each ``section(doc, ctx)``: it reads the
``Context`` and adds headings, text, tables and figures to the ``Document``.

``SECTIONS`` is the report's order. A new section is a module here with a ``section``
function and one entry in ``SECTIONS`` (docs/extending.md).
"""

from ablation.report.sections import (
    budget_matched,
    comparison,
    contrasts,
    effects,
    failures,
    figures,
    grid,
    overview,
    per_class,
    protocol,
    provenance,
    validation,
)
from ablation.report.sections.common import Context, display_uri, fmt_ci, user_task

SECTIONS = (
    overview.section,
    protocol.section,
    comparison.section,
    budget_matched.section,
    validation.section,
    grid.section,
    effects.section,
    contrasts.section,
    per_class.section,
    figures.section,
    failures.section,
    provenance.section,
)

__all__ = ["SECTIONS", "Context", "display_uri", "fmt_ci", "user_task"]
