"""Statistics over seeds, on plain numbers and pandas frames (nothing here touches MLflow).

- ``intervals``: the interval of a cell's mean (t, clipped to the metric's range; none
  below 3 seeds) and its robust centre (median);
- ``seeds``: the rule for seeds that failed to train;
- ``verdicts``: paper verdicts with a precision rule and ``decide`` for ``seeds=auto``;
- ``contrasts``: per-factor contrasts with P(better) and Holm-corrected p-values;
- ``variance``: data-subset vs. init variance shares;
- ``anova``: a type-II ANOVA table (classical errors);
- ``effects``: the model of the design, its marginal means and contrasts (what the report's
  sentences come from), ``families``: declared vs exploratory contrasts, Holm, P(better),
  ``sentences``: the overview in words.
"""

from ablation.report.stats.anova import AnovaResult, anova, format_p
from ablation.report.stats.contrasts import (
    CONTRAST_RULE,
    contrast,
    contrast_sentence,
    contrasts,
    probability_of_improvement,
)
from ablation.report.stats.intervals import (
    INTERVAL_SENTENCE,
    MIN_SEEDS,
    Interval,
    format_interval,
    format_values,
    interval,
    robust_centre,
    t_ci,
)
from ablation.report.stats.seeds import FAILED_TO_TRAIN_RULE, failed_to_train
from ablation.report.stats.variance import VARIANCE_SENTENCE, VarianceShares, variance_components
from ablation.report.stats.verdicts import (
    MAX_HALF_WIDTH,
    VERDICT_RULE,
    Decision,
    decide,
    paper_verdict,
    verdict,
)

__all__ = [
    "CONTRAST_RULE",
    "FAILED_TO_TRAIN_RULE",
    "INTERVAL_SENTENCE",
    "MAX_HALF_WIDTH",
    "MIN_SEEDS",
    "VARIANCE_SENTENCE",
    "VERDICT_RULE",
    "AnovaResult",
    "Decision",
    "Interval",
    "VarianceShares",
    "anova",
    "contrast",
    "contrast_sentence",
    "contrasts",
    "decide",
    "failed_to_train",
    "format_interval",
    "format_p",
    "format_values",
    "interval",
    "paper_verdict",
    "probability_of_improvement",
    "robust_centre",
    "t_ci",
    "variance_components",
    "verdict",
]
