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


# --- the interaction plot, learning curves, palettes, metrics -----------------------------

from matplotlib.collections import LineCollection  # noqa: E402
from scipy import stats  # noqa: E402

CROSS = {("random", "none"): 90.0, ("random", "l2"): 92.0}
CROSS |= {("kaiming", "none"): 95.0, ("kaiming", "l2"): 93.0}


def _crossover(seeds=(0, 1, 2), depths=(1, 2), drop=()):
    """Planted: L2 +2 points for random init, -2 for Kaiming, at every depth; seed noise
    +/-0.3; ``drop`` removes cells (an incomplete design)."""
    rows = []
    for (init, reg), base in CROSS.items():
        for depth in depths:
            if (init, reg, depth) in drop:
                continue
            for s in seeds:
                value = base + 0.3 * (s - 1) + 0.5 * (depth - 1)
                cell = f"init={init} reg={reg} depth={depth}"
                rows.append((f"{cell}/{s}", cell, init, reg, str(depth), s, value))
    cols = ["run_id", "cell", "init", "reg", "depth", "seed", "test_acc"]
    return pd.DataFrame(rows, columns=cols)


def _lines(ax):
    """The drawn cell-mean lines of a panel: (colour, x data, y data), legend-less lines."""
    return [ln for ln in ax.get_lines() if ln.get_marker() not in ("None", "", None, "v", "^")]


def test_interaction_plot_shows_a_crossover_per_panel_never_pooled(tmp_path):
    fin = _crossover()
    vary = ["init", "reg", "depth"]
    lay = figs.interaction_layout(fin, vary)
    assert (lay.x, lay.trace, lay.facets) == ("reg", "init", ("depth",))  # the interacting pair
    with figs.capture() as drawn:
        figs.interaction_plot(fin, vary, tmp_path / "ix.png")
    fig = drawn["ix.png"]
    assert (tmp_path / "ix.png").stat().st_size > 1000
    assert [ax.get_title() for ax in fig.axes] == ["depth = 1", "depth = 2"]
    for ax, depth in zip(fig.axes, (1, 2), strict=True):
        lines = [ln for ln in ax.get_lines() if len(ln.get_ydata()) == 2]
        assert len(lines) == 2  # one line per init, two points (none, l2) each
        random, kaiming = (np.asarray(ln.get_ydata(), float) for ln in lines)
        shift = 0.5 * (depth - 1)
        assert np.allclose(random, [90 + shift, 92 + shift])  # cell means, not pooled
        assert np.allclose(kaiming, [95 + shift, 93 + shift])
        assert (random[1] - random[0]) * (kaiming[1] - kaiming[0]) < 0  # the lines cross
        low, high = ax.get_ylim()
        assert high - low < 12 and low > 80  # zoomed to the means, not 0-100
    segments = [
        s
        for ax in fig.axes
        for c in ax.collections
        if isinstance(c, LineCollection)
        for s in c.get_segments()
    ]
    assert len(segments) == 8  # a 95% interval per cell with 3 seeds
    # the best cell (highest mean) is ringed: Kaiming without L2 at depth 2
    ring = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "best-cell"]
    assert len(ring) == 1 and np.allclose(ring[0].get_offsets()[0][1], 95.5)
    assert "interaction" not in fig._suptitle.get_text().lower()
    assert "one line per level of init" in figs.interaction_caption(fin, vary)


def test_interaction_intervals_stay_in_the_metric_range_and_one_seed_has_none(tmp_path):
    fin = _crossover()
    fin["test_acc"] = np.where(fin["seed"] == 0, 99.9, 100.0) - (fin["seed"] == 2) * 3.0
    with figs.capture() as drawn:
        figs.interaction_plot(fin, ["init", "reg", "depth"], tmp_path / "ix.png")
    values = np.concatenate(
        [
            np.asarray(s)[:, 1]
            for ax in drawn["ix.png"].axes
            for c in ax.collections
            if isinstance(c, LineCollection)
            for s in c.get_segments()
        ]
    )
    assert values.size and values.max() <= 100.0 and values.min() >= 0.0
    one = _crossover(seeds=(0,))
    with figs.capture() as drawn:
        figs.interaction_plot(one, ["init", "reg", "depth"], tmp_path / "one.png")
    fig = drawn["one.png"]
    assert not [c for ax in fig.axes for c in ax.collections if isinstance(c, LineCollection)]
    assert "one seed per cell" in fig._suptitle.get_text()
    assert "no interval" in figs.interaction_caption(one, ["init", "reg", "depth"])


def test_an_interval_past_the_zoomed_axis_is_marked_with_its_end(tmp_path):
    """One noisy cell (seeds 93, 95.5, 96): its interval reaches far past the zoom that fits
    the means; the bar's end is not cut silently but marked at the edge with its value."""
    fin = _crossover()
    noisy = fin["cell"] == "init=kaiming reg=none depth=1"
    fin.loc[noisy, "test_acc"] = [93.0, 95.5, 96.0]
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean([93, 95.5, 96]), scale=stats.sem([93, 95.5, 96]))
    with figs.capture() as drawn:
        figs.interaction_plot(fin, ["init", "reg", "depth"], tmp_path / "ix.png")
    fig = drawn["ix.png"]
    bottom, top = fig.axes[0].get_ylim()
    assert top < hi  # the zoom cuts this interval
    ends = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("to ")]
    assert sorted(ends) == sorted([f"to {hi:.3g}"] + ([f"to {lo:.3g}"] if lo < bottom else []))
    up = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "^"]
    assert any(np.isclose(ln.get_ydata()[0], top) for ln in up)
    legend = " ".join(" ".join(t.get_text().split()) for t in fig.legends[0].get_texts())
    assert "interval end outside the axis" in legend
    # a figure whose intervals all fit says nothing of the kind
    with figs.capture() as drawn:
        figs.interaction_plot(_crossover(), ["init", "reg", "depth"], tmp_path / "ok.png")
    assert not [t for ax in drawn["ok.png"].axes for t in ax.texts if t.get_text()[:3] == "to "]


def test_every_panel_of_a_short_last_row_layout_labels_its_x_ticks(tmp_path):
    fin = _crossover(depths=(1, 2, 3, 4))  # 4 panels: 3 above, 1 below the first
    with figs.capture() as drawn:
        figs.interaction_plot(fin, ["init", "reg", "depth"], tmp_path / "ix.png")
    fig = drawn["ix.png"]
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [f"depth = {d}" for d in (1, 2, 3, 4)]
    for ax in panels:
        assert [t.get_text() for t in ax.get_xticklabels() if t.get_visible()] == ["none", "l2"]


def test_interaction_plot_names_cells_not_run_and_marks_the_lowest_for_min(tmp_path):
    fin = _crossover(drop={("random", "none", 2), ("kaiming", "none", 2)})
    fin["test_err"] = 100 - fin["test_acc"]
    with figs.capture() as drawn:
        figs.interaction_plot(
            fin, ["init", "reg", "depth"], tmp_path / "ix.png", metric="test/err", goal="min"
        )
    fig = drawn["ix.png"]
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no finished run" in notes
    assert fig.axes[0].get_ylabel() == "final test/err"  # any other metric: its own name
    ring = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "best-cell"]
    assert np.isclose(ring[0].get_offsets()[0][1], fin.groupby("cell")["test_err"].mean().min())
    assert "lowest mean" in " ".join(t.get_text() for t in fig.legends[0].get_texts())


def test_metric_units_range_and_direction():
    acc = figs.metric_info("test/acc")
    assert acc.percent and acc.range == (0.0, 100.0) and acc.goal == "max"
    assert acc.label == "test accuracy (%)" and np.allclose(acc.scaled([0.5, 1.0]), [50, 100])
    assert np.allclose(acc.scaled([50.0, 99.0]), [50, 99])  # already in percent
    err = figs.metric_info("test/err")
    assert err.goal == "min" and err.range[0] == 0 and math.isinf(err.range[1])
    assert err.label == "test/err" and np.allclose(err.scaled([0.1]), [0.1])  # as logged
    f1 = figs.metric_info("test/macro_f1")
    assert not f1.percent and f1.range == (0.0, 1.0) and f1.goal == "max"
    assert figs.metric_info("val/loss", goal="max").goal == "max"


def _history(curves: dict, steps=range(0, 101, 10), seeds=3):
    """Histories of ``seeds`` runs per cell; the cell's name is its level of ``variant``."""
    hist, runs = [], []
    for cell, curve in curves.items():
        for s in range(seeds):
            run = f"{cell}-{s}"
            runs.append((run, cell, cell))
            hist += [(run, "test/acc", t, curve(t, s)) for t in steps]
    hist = pd.DataFrame(hist, columns=["run_id", "key", "step", "value"])
    return hist, pd.DataFrame(runs, columns=["run_id", "cell", "variant"])


def test_learning_curves_zoom_label_references_and_name_coinciding_curves(tmp_path):
    same = lambda t, s: 0.85 * (1 - math.exp(-t / 20)) + 0.002 * s  # noqa: E731
    hist, runs = _history(
        {
            "random none": same,
            "random l2": same,  # identical: drawn on top of each other
            "kaiming none": lambda t, s: same(t, s) + 0.03 * t / 100,
        }
    )
    enc = figs.encoding(runs, ["variant"])
    refs = [("random l2", 88.8), ("kaiming none", 89.4)]  # 0.6 points apart
    with figs.capture() as drawn:
        figs.learning_curves(hist, runs, enc, tmp_path / "lc.png", references=refs)
    fig = drawn["lc.png"]
    main, full = fig.axes[0], fig.axes[1]
    low, high = main.get_ylim()
    assert low > 70 and high < 95 and full.get_ylim() == (0.0, 100.5)  # zoom + full range
    curves = [ln for ln in main.get_lines() if not ln.get_label().startswith("_")]
    assert len(curves) == 3
    starts = {ln.get_markevery().start for ln in curves}
    assert len(starts) == 3 or all(ln.get_markevery().step == 1 for ln in curves)
    assert len({ln.get_marker() for ln in curves}) == 3  # a marker per curve
    labels = {t.get_text(): t for t in main.texts}
    assert {"paper 88.8: random l2", "paper 89.4: kaiming none"} <= set(labels)
    y = sorted(labels[k].get_position()[1] for k in labels if k.startswith("paper"))
    assert y[1] - y[0] >= 0.07  # pushed apart: the two labels never coincide
    note = fig._supxlabel.get_text().replace("\n", " ")
    assert "random none and random l2 coincide" in note
    # a paper row the study's budget was read off says so on its line, as in its table
    with figs.capture() as drawn:
        refs = [("random l2", 88.8, "calibration row"), ("kaiming none", 89.4)]
        figs.learning_curves(hist, runs, enc, tmp_path / "lc2.png", references=refs)
    texts = {t.get_text() for t in drawn["lc2.png"].axes[0].texts}
    assert {"paper 88.8: random l2 (calibration row)", "paper 89.4: kaiming none"} <= texts
    assert "kaiming" not in note
    assert "zoomed" in fig._suptitle.get_text()


def test_one_logged_step_draws_a_dot_per_run_not_empty_axes(tmp_path):
    hist, runs = _history({"a": lambda t, s: 0.9 + 0.01 * s, "b": lambda t, s: 0.8}, steps=[7])
    assert figs.logged_steps(hist) == 1
    enc = figs.encoding(runs, ["variant"])
    with figs.capture() as drawn:
        figs.learning_curves(hist, runs, enc, tmp_path / "lc.png", step_label="step")
    fig = drawn["lc.png"]
    ax = fig.axes[0]
    means = sorted(ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_gid() == "mean")
    assert np.allclose(means, [80.0, 91.0])
    dots = [c for c in ax.collections if c.get_offsets().shape[0] == 3]
    assert dots  # the runs of a cell with differing values, one dot each
    assert "one step" in fig._suptitle.get_text() and "step 7" in ax.get_ylabel()


def test_other_metrics_are_drawn_as_logged_with_their_name(tmp_path):
    hist, runs = _history({"a": lambda t, s: 2.0 * math.exp(-t / 30) + 0.1})
    hist["key"] = "val/loss"
    enc = figs.encoding(runs, ["variant"])
    with figs.capture() as drawn:
        figs.learning_curves(hist, runs, enc, tmp_path / "loss.png", key="val/loss")
    ax = drawn["loss.png"].axes[0]
    assert ax.get_ylabel().startswith("val/loss")
    assert max(max(ln.get_ydata()) for ln in ax.get_lines()) < 2.2  # not multiplied by 100


def test_maps_and_palettes_are_colour_blind_safe(tmp_path):
    import seaborn as sns

    table = pd.DataFrame([[90.0, 95.0], [80.0, 99.0]], index=["a", "b"], columns=["0", "1"])
    with figs.capture() as drawn:
        figs.per_class_heatmap(table, tmp_path / "pc.png")
        figs.confusion(np.array([[9, 1], [2, 8]]), "t", tmp_path / "cm.png")
    maps = {drawn[n].axes[0].collections[0].get_cmap().name for n in ("pc.png", "cm.png")}
    assert maps == {"cividis", "Blues"}  # no red-green map
    fin = _crossover()
    enc = figs.encoding(fin, ["init", "reg", "depth"])
    safe = [tuple(c) for c in sns.color_palette("colorblind", 10)]
    assert {enc.hues["random"], enc.hues["kaiming"]} <= set(safe)
    assert enc.palette["random, none"] == enc.hues["random"]  # shades of the init's hue
    assert len(set(enc.palette.values())) == 4


def test_one_varying_factor_draws_one_line(tmp_path):
    fin = _crossover(seeds=(0, 1))
    fin = fin[(fin["reg"] == "none") & (fin["depth"] == "1")]
    with figs.capture() as drawn:
        figs.interaction_plot(fin, ["init", "reg", "depth"], tmp_path / "one.png")
    (ax,) = drawn["one.png"].axes
    lines = [ln for ln in ax.get_lines() if len(ln.get_ydata()) == 2]
    assert len(lines) == 1 and np.allclose(lines[0].get_ydata(), [90.0 - 0.15, 95.0 - 0.15])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["random", "kaiming"]


def test_a_laid_out_figure_is_saved_whole_at_its_size_and_any_other_is_cropped(tmp_path):
    """Every report figure has constrained layout, which keeps its artists inside the canvas:
    saved as it is (one draw). A figure without a layout engine is cropped to its content,
    so a label past its edge is never cut off."""
    from matplotlib.figure import Figure
    from PIL import Image

    from ablation.report.figures._base import DPI, save

    laid_out = Figure(figsize=(4, 3), layout="constrained")
    ax = laid_out.subplots()
    ax.set(xlabel="a long x label " * 3, ylabel="y", title="title")
    ax.plot([0, 1], label="one line")
    laid_out.legend(loc="outside right")
    save(laid_out, tmp_path / "laid_out.png")
    assert Image.open(tmp_path / "laid_out.png").size == (4 * DPI, 3 * DPI)

    bare = Figure(figsize=(4, 3))
    bare.subplots().text(1.2, 0.5, "past the right edge", transform=bare.axes[0].transAxes)
    save(bare, tmp_path / "bare.png")
    width, _ = Image.open(tmp_path / "bare.png").size
    assert width > 4 * DPI  # the crop grew the canvas to hold the text
