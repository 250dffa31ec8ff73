"""The report's figures, checked from the drawn matplotlib artists (not pixels).

Three stores: the synthetic paper study with 2 seeds and with 1 seed (see
``test_report_build.make_store``), and a real digits store in which full-batch ``gd`` and
minibatch ``sgd`` runs share one experiment, with a validation split.
"""

from __future__ import annotations

import base64
import io
import itertools
import re

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.image import imread

from ablation.report import build
from ablation.report import figures as figs
from tests.conftest import cli
from tests.integration.test_report_build import make_store

CUT = ("…", "...")


def _texts(fig) -> list[str]:
    """Every legend entry, legend title, axis title, suptitle and tick label of a figure."""
    out = []
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    for leg in filter(None, legends):
        out += [t.get_text() for t in leg.get_texts()] + [leg.get_title().get_text()]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    return [t for t in out if t]


def _interval_values(fig, axis: int) -> np.ndarray:
    """The accuracy coordinate (0 = x, 1 = y) of every drawn band and error bar."""
    values = [np.empty(0)]
    for ax in fig.axes:
        for coll in ax.collections:
            if isinstance(coll, PolyCollection):
                values += [p.vertices[:, axis] for p in coll.get_paths()]
            elif isinstance(coll, LineCollection):
                values += [np.asarray(seg)[:, axis] for seg in coll.get_segments()]
    return np.concatenate(values)


def _curve_colours(fig) -> dict[str, set]:
    """Legend label -> the colours its lines have in all panels."""
    seen: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                seen.setdefault(line.get_label(), set()).add(tuple(line.get_color()))
    return seen


def _check_common(drawn: dict, md: str, html_text: str, result) -> None:
    """What holds for every report: no cut text, intervals in range, every image decodes."""
    for name, fig in drawn.items():
        for text in _texts(fig):
            assert not text.rstrip().endswith(CUT), (name, text)
    for name, axis in (("learning_curves.png", 1), ("accuracy_by_factor.png", 1)):
        if name in drawn:
            v = _interval_values(drawn[name], axis)
            assert ((v >= 0) & (v <= 100)).all(), (name, v.min(), v.max())
    if "paper_vs_ours.png" in drawn:
        v = _interval_values(drawn["paper_vs_ours.png"], 0)
        assert ((v >= 0) & (v <= 100)).all()
    # every figure in the HTML is a PNG that decodes
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html_text)
    assert len(uris) == len(result.figures) >= 4
    for b64 in uris:
        image = imread(io.BytesIO(base64.b64decode(b64)), format="png")
        assert image.shape[0] > 50 and image.shape[1] > 50
    assert "/tmp/" not in md and str(result.markdown.parent.parent) not in md


def _colours_consistent(drawn: dict, levels: set[str]) -> None:
    curves = [f for n, f in drawn.items() if n.startswith("learning_curves")]
    assert curves
    everywhere: dict[str, set] = {}
    for fig in curves:
        for label, colours in _curve_colours(fig).items():
            everywhere.setdefault(label, set()).update(colours)
        legend = {t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts()}
        assert levels <= legend, (levels, legend)  # whole level names, never cut
    assert set(everywhere) == levels
    assert all(len(c) == 1 for c in everywhere.values()), everywhere
    assert len({next(iter(c)) for c in everywhere.values()}) == len(levels)


def _report(root, seeds, monkeypatch):
    uri = make_store(root, seeds=seeds)
    monkeypatch.chdir(root)
    with figs.capture() as drawn:
        result = build("paper_table3", tracking_uri=uri, out_dir=root / "out")
    return result, drawn, result.markdown.read_text("utf-8"), result.html.read_text("utf-8")


@pytest.mark.slow
def test_two_seed_report(tmp_path, monkeypatch):
    result, drawn, md, html_text = _report(tmp_path, (0, 1), monkeypatch)
    _check_common(drawn, md, html_text, result)
    curves = drawn["learning_curves.png"]
    assert not any(isinstance(c, PolyCollection) for ax in curves.axes for c in ax.collections)
    assert "band = 95%" not in md and "no band (fewer than 3 seeds per cell)" in md
    assert "no band" in curves._suptitle.get_text()
    # panels by data (ties: the later factor), colour by init x reg in every panel; each
    # zoomed panel has a small full-range panel under it
    assert [ax.get_title() for ax in curves.axes if ax.get_title()] == ["data = 42k", "data = 60k"]
    main, full = curves.axes[0], curves.axes[2]
    assert full.get_ylim() == (0.0, 100.5) and main.get_ylim()[1] - main.get_ylim()[0] < 40
    _colours_consistent(drawn, {"random, none", "random, l2", "kaiming, none", "kaiming, l2"})
    # the store is shown relative to the working directory it lies under
    assert "Tracking store: sqlite:///mlruns/mlflow.db" in md
    # budget-matched table: every paper row that ran, and the paper's lines on the curves
    section = md[md.index("## Paper's accuracy on our learning curves") :].split("\n## ")[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| ") and "paper row" not in ln]
    assert len(rows) == 5, section
    assert "| Random init (42k) | 76.6 |" in section
    dotted = [ln for ax in curves.axes for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert sorted(round(ln.get_ydata()[0], 3) for ln in dotted) == [76.6, 77.7, 80.4, 88.8, 89.4]
    # each paper line labelled where it is drawn; 88.8 and 89.4 (one panel) never coincide
    labels = {t.get_text(): t.get_position()[1] for t in curves.axes[1].texts}
    assert set(labels) == {"paper 88.8: random, l2", "paper 89.4: kaiming, l2"}, labels
    assert abs(labels["paper 89.4: kaiming, l2"] - labels["paper 88.8: random, l2"]) >= 0.07
    _interaction_checks(drawn["accuracy_by_factor.png"], result, seeds=2)


def _interaction_checks(fig, result, seeds: int) -> None:
    """The Table 3 store's interaction plot: every cell that ran drawn at its own mean (no
    pooling over a factor), the cells that did not run named, the PNG written."""
    import pandas as pd

    assert (result.markdown.parent / "figures" / "accuracy_by_factor.png").stat().st_size > 5000
    summary = pd.read_csv(result.markdown.parent / "summary.csv")
    ran = summary[summary["n_seeds"] > 0]
    means = sorted(round(v, 6) for v in ran["test_acc_mean"])
    drawn = sorted(
        round(float(y), 6)
        for ax in fig.axes
        for ln in ax.get_lines()
        if ln.get_marker() in ("o", "s")
        for y in ln.get_ydata()
        if not np.isnan(y)
    )
    assert drawn == means, (drawn, means)
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no finished run" in notes, notes  # two Table 3 cells: one failed, one absent
    ring = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "best-cell"]
    assert len(ring) == 1 and np.isclose(ring[0].get_offsets()[0][1], max(means))
    title = fig._suptitle.get_text().replace("\n", " ")
    assert ("one seed per cell" in title) == (seeds == 1)


@pytest.mark.slow
def test_one_seed_report(tmp_path, monkeypatch):
    result, drawn, md, html_text = _report(tmp_path, (0,), monkeypatch)
    _check_common(drawn, md, html_text, result)
    for name in ("learning_curves.png", "paper_vs_ours.png"):  # one seed: no band, no bar
        assert _interval_values(drawn[name], 1).size == 0, name
    assert _interval_values(drawn["accuracy_by_factor.png"], 1).size == 0  # dots, no bars
    _interaction_checks(drawn["accuracy_by_factor.png"], result, seeds=1)
    assert "One seed per cell: each marker is a single run" in md
    assert "band = 95%" not in md
    assert "Paper's accuracy on our learning curves" in md


@pytest.mark.slow
def test_three_seed_bands_are_clipped(tmp_path, monkeypatch):
    result, drawn, md, html_text = _report(tmp_path, (0, 1, 2), monkeypatch)
    _check_common(drawn, md, html_text, result)
    bands = _interval_values(drawn["learning_curves.png"], 1)
    assert bands.size > 0 and "band = 95% t-interval clipped to" in md


@pytest.mark.slow
def test_gd_and_minibatch_share_an_epoch_axis(workdir, monkeypatch):
    common = ["-m", "seed=0,1", "data=digits", "data.n_val=300", "experiment_name=mixed"]
    common.append("report=false")  # the report under test is built below, not at sweep end
    gd = cli(*common, "optim=gd", "optim.iterations=30", "optim.eval_every=2", cwd=workdir)
    assert gd.returncode == 0, gd.stderr[-3000:]
    sgd = cli(*common, "optim=sgd", "optim.epochs=2", "optim.eval_every=1", cwd=workdir)
    assert sgd.returncode == 0, sgd.stderr[-3000:]
    monkeypatch.chdir(workdir)  # the default store, ./mlruns, as a user would have it
    with figs.capture() as drawn:
        result = build("mixed", tracking_uri=None, out_dir=workdir / "out")
    md, html_text = result.markdown.read_text("utf-8"), result.html.read_text("utf-8")
    _check_common(drawn, md, html_text, result)
    curves = drawn["learning_curves.png"]
    ax = curves.axes[0]
    assert ax.get_xscale() == "symlog"  # 30 full-batch epochs beside 2 minibatch epochs
    ends = {ln.get_label(): max(ln.get_xdata()) for ln in ax.get_lines()}
    assert ends == {"gd": 30, "sgd": 2}, ends  # epochs, not update steps
    assert "updates per epoch: gd: 1; sgd: 9" in md  # ceil((1437 - 300) / 128)
    # a study that is not the paper's: no paper figure, no budget table
    assert "paper_vs_ours.png" not in drawn and "Paper's accuracy on our" not in md
    assert "Paper vs. reproduction" not in md and "not run" not in md  # no empty paper rows
    # the validation split the choice is made on, with test beside it
    assert "## Validation (what the choice was made on) and test" in md
    # ... with the protocol's stability rule applied to every cell's validation loss
    val = md.split("## Validation", 1)[1].split("\n## ", 1)[0]
    assert "| stable |" in val and "Stable = in the last half of training" in val
    assert val.count("| yes |") + val.count("| no |") == 2  # the gd cell and the sgd cell
    _colours_consistent(
        {n: f for n, f in drawn.items() if n.startswith("learning_curves")}, {"gd", "sgd"}
    )
    assert "learning_curves_val.png" in drawn
    # with a validation split, "best" is chosen there, not on the test set
    assert "Confusion matrix, best cell by validation accuracy:" in md
    # ROC on a log false-positive axis
    assert drawn["roc.png"].axes[0].get_xscale() == "log"
    assert "Tracking store: sqlite:///mlruns/mlflow.db" in md


def test_levels_keep_their_colour_whatever_the_panel():
    import pandas as pd

    fin = pd.DataFrame(
        [
            {"init": i, "reg": r, "optim.lr": lr}
            for i, r, lr in itertools.product(["random", "kaiming"], ["none", "l2"], ["0.1", "1"])
        ]
        + [{"init": "random", "reg": "none", "optim.lr": "0.3"}]
    )
    enc = figs.encoding(fin, ["init", "reg", "optim.lr"])
    assert enc.facet == "optim.lr" and enc.colour == ("init", "reg")
    assert list(enc.palette) == ["random, none", "random, l2", "kaiming, none", "kaiming, l2"]


ONE_STEP_TASK = """
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def train(cfg, log):
    X, y = load_digits(return_X_y=True)
    split = train_test_split(X / 16, y, test_size=0.3, random_state=cfg["seed"])
    model = LogisticRegression(C=cfg["C"], max_iter=100).fit(split[0], split[2])
    return {"test/acc": model.score(split[1], split[3])}
"""

ONE_STEP_SWEEP = """
# @package _global_
defaults:
  - config
  - _self_
experiment_name: one_step
report: false
task:
  _target_: one_step_task.train
  C: 1.0
hydra:
  mode: MULTIRUN
  sweeper:
    params:
      task.C: 0.01,1.0
      seed: range(3)
"""


@pytest.mark.slow
def test_a_task_that_logs_one_step_gets_a_dot_per_run(workdir, monkeypatch):
    folder = workdir / "study"
    folder.mkdir()
    (folder / "one_step_task.py").write_text(ONE_STEP_TASK)
    (folder / "one_step.yaml").write_text(ONE_STEP_SWEEP)
    run = cli("-cd", str(folder), "-cn", "one_step", cwd=workdir)
    assert run.returncode == 0, run.stderr[-3000:]
    monkeypatch.chdir(workdir)
    with figs.capture() as drawn:
        result = build("one_step", tracking_uri=None, out_dir=workdir / "out")
    md = result.markdown.read_text("utf-8")
    assert (result.markdown.parent / "figures" / "learning_curves.png").stat().st_size > 5000
    dots = drawn["learning_curves.png"]
    assert "one step per run" in dots._suptitle.get_text()
    (ax,) = dots.axes
    means = [ln for ln in ax.get_lines() if ln.get_gid() == "mean"]
    assert len(means) == 2 and all(80 < ln.get_ydata()[0] <= 100 for ln in means)
    assert sum(c.get_offsets().shape[0] for c in ax.collections if c.get_offsets().size) >= 6
    v = _interval_values(dots, 1)
    assert v.size and ((v >= 0) & (v <= 100)).all()  # three seeds: a clipped interval
    assert "at one step per run, so each run is a dot" in md
    assert "Learning curves:" not in md
