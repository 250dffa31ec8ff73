"""Report figures (matplotlib object API + seaborn; no pyplot, so no global backend state).

- ``interaction``: the interaction plot of cell means (replaces the pooled by-factor plot),
  laid out by ``layout`` (which factor on x, which per line, which per panel);
- ``curves`` / ``one_step``: learning curves, zoomed, labelled; a dot per run for one step;
- ``paper``: the paper's numbers against ours;
- ``heatmaps``: per-class and confusion maps; ``predictions``: ROC/PR and the error gallery;
- ``encoding``: panels, colours and markers shared by every figure of a report;
- ``metric``: which metric, its units (accuracies in %), range and direction;
- ``_base``: style, ``capture`` (a test hook), text, intervals, colour-blind-safe palettes.
"""

from ablation.report.figures._base import (
    CATEGORICAL,
    DPI,
    MIN_SEEDS_FOR_BAND,
    RANGE,
    SEQUENTIAL,
    STYLE,
    capture,
    categorical,
    clipped_interval,
    save,
    styled,
    txt,
    varying_words,
)
from ablation.report.figures.curves import learning_curves, logged_steps
from ablation.report.figures.encoding import Encoding, encoding, legend
from ablation.report.figures.heatmaps import confusion, per_class_heatmap
from ablation.report.figures.interaction import (
    accuracy_by_factor,
    interaction_caption,
    interaction_plot,
)
from ablation.report.figures.layout import Layout, interaction_layout
from ablation.report.figures.metric import Metric, metric_info
from ablation.report.figures.one_step import one_step
from ablation.report.figures.paper import paper_vs_ours
from ablation.report.figures.predictions import misclassified_gallery, roc_pr

# the former module's private names, still used by tests and callers
_txt = txt
_save = save
_styled = styled
_legend = legend

__all__ = [
    "CATEGORICAL",
    "DPI",
    "MIN_SEEDS_FOR_BAND",
    "RANGE",
    "SEQUENTIAL",
    "STYLE",
    "Encoding",
    "Layout",
    "Metric",
    "accuracy_by_factor",
    "capture",
    "categorical",
    "clipped_interval",
    "confusion",
    "encoding",
    "interaction_caption",
    "interaction_layout",
    "interaction_plot",
    "learning_curves",
    "legend",
    "logged_steps",
    "metric_info",
    "misclassified_gallery",
    "one_step",
    "paper_vs_ours",
    "per_class_heatmap",
    "roc_pr",
    "save",
    "styled",
    "txt",
    "varying_words",
]
