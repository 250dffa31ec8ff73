"""Figure helpers: clipped intervals, the shared encoding, labels, the store's shown URI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection

from ablation.report import figures as figs
from ablation.report.sections import display_uri


def test_interval_is_clipped_to_the_metric_range():
    mean, lo, hi = figs.clipped_interval([99.9, 100.0, 96.0])
    assert lo >= 0 and hi == 100.0 and lo <= mean <= hi
    mean, lo, hi = figs.clipped_interval([0.5, 0.0, 4.0])
    assert lo == 0.0


def test_no_interval_below_three_values():
    for values in ([80.0], [80.0, 90.0], [80.0, math.nan, 90.0]):
        mean, lo, hi = figs.clipped_interval(values)
        assert not math.isnan(mean) and math.isnan(lo) and math.isnan(hi)


def test_labels_are_wrapped_never_cut():
    text = "init=kaiming reg=l2(0.001) data=60k depth=2 optim.name=momentum"
    shown = figs._txt(text, 20)
    assert shown.replace("\n", " ") == text and "…" not in shown
    assert figs._txt("cost $5") == r"cost \$5"


def test_encoding_facets_by_the_factor_with_most_levels():
    fin = pd.DataFrame({"optim.name": ["gd", "sgd", "adam", "momentum"], "init": ["kaiming"] * 4})
    enc = figs.encoding(fin, ["init", "optim.name"])
    assert enc.facet is None and enc.colour == ("optim.name",)  # init does not vary
    assert set(enc.palette) == {"gd", "sgd", "adam", "momentum"}


def test_learning_curve_bands_stay_inside_0_100(tmp_path):
    # three seeds near 100%: an unclipped t-interval would reach past 100
    hist = pd.DataFrame(
        [
            (run, "test/acc", step, min(1.0, 0.5 + step / 20 + noise))
            for run, noise in (("a", 0.0), ("b", -0.05), ("c", 0.03))
            for step in range(0, 12, 2)
        ],
        columns=["run_id", "key", "step", "value"],
    )
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "cell": ["x"] * 3, "init": ["random"] * 3})
    enc = figs.encoding(runs, ["init"])
    with figs.capture() as drawn:
        figs.learning_curves(hist, runs, enc, tmp_path / "lc.png", references=[("x", 97.5)])
    fig = drawn["lc.png"]
    bands = [
        p.vertices[:, 1]
        for c in fig.axes[0].collections
        if isinstance(c, PolyCollection)
        for p in c.get_paths()
    ]
    assert bands and all(((b >= 0) & (b <= 100)).all() for b in bands)
    assert any(np.allclose(ln.get_ydata(), 97.5) for ln in fig.axes[0].get_lines())


def test_store_is_shown_relative_to_the_working_directory(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    assert display_uri(f"sqlite:///{db}", cwd=tmp_path) == "sqlite:///mlruns/mlflow.db"
    assert display_uri(str(db), cwd=tmp_path) == "mlruns/mlflow.db"
    assert display_uri(db.as_uri(), cwd=tmp_path) == "mlruns/mlflow.db"
    other = tmp_path.parent / "elsewhere.db"
    assert display_uri(f"sqlite:///{other}", cwd=tmp_path) == f"sqlite:///{other}"
    assert display_uri("sqlite:///rel/mlflow.db", cwd=tmp_path) == "sqlite:///rel/mlflow.db"
    assert display_uri("http://tracking:5000", cwd=tmp_path) == "http://tracking:5000"
