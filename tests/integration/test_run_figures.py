"""A run's two figures: what they draw is what the run logged, and they are whole images."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from ablation import tracking
from ablation.cell.cell import Cell
from ablation.config.schema import package_dir, register_configs
from ablation.run import plots
from ablation.run.mlp import build_model, fit_with_progress, load_data
from tests.conftest import store_uri

register_configs()


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def _cell(*overrides: str) -> Cell:
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        return Cell.from_config(compose("config", overrides=list(overrides)), overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        ("data=digits", "optim.iterations=25", "optim.eval_every=5"),  # full batch: train, test
        ("data=digits", "optim=sgd", "optim.epochs=2", "data.n_val=200"),  # minibatch, val too
    ],
)
def test_the_learning_curves_are_the_metrics_the_store_holds(workdir, overrides):
    """The figure draws the curves kept in memory during the fit (no reading back): they
    must be, point for point, the history the store holds for every metric logged."""
    cell = _cell(*overrides)
    client = MlflowClient(store_uri(workdir))
    exp = client.create_experiment("figures")
    run_id = client.create_run(exp).info.run_id
    data = load_data(cell)
    net, optimizer = build_model(cell, data, threads=1)
    buffer = tracking.MetricBuffer(client, run_id)
    last, curves = fit_with_progress(cell, net, optimizer, data, buffer, progress=False)

    stored = client.get_run(run_id).data.metrics
    assert set(curves) == set(stored) and len(curves) >= 4
    for name, points in curves.items():
        history = sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
        assert [step for step, _ in points] == [m.step for m in history], name
        np.testing.assert_array_equal([v for _, v in points], [m.value for m in history])
        assert points[-1] == (last["_step"], pytest.approx(last[name]))
    assert ("val/acc" in curves) == ("data.n_val=200" in overrides)

    out = workdir / "learning_curve.png"
    plots.learning_curve_png(curves, out, title=cell.label)
    assert _png_size(out) == (900, 360)


def test_the_confusion_matrix_figure_is_whole_with_a_long_label(tmp_path):
    label = " ".join(f"factor{k}=level{k}" for k in range(14))  # wraps over two lines
    counts = np.random.default_rng(0).integers(0, 1200, (10, 10))
    out = tmp_path / "confusion.png"
    plots.confusion_png(counts, out, title=label)
    assert _png_size(out) == (550, 480)
    plots.learning_curve_png({"train/acc": [(0, 0.1), (5, 0.9)]}, tmp_path / "one.png", label)
    assert _png_size(tmp_path / "one.png") == (900, 360)


def test_drawing_a_runs_figures_loads_no_pyplot(tmp_path):
    """Every process that trains draws two figures: through matplotlib's object API, not
    pyplot (~0.3 s of CPU to import, for a global figure manager nothing here uses)."""
    code = (
        "import sys; import numpy as np; from pathlib import Path; from ablation.run import plots; "
        f"d = Path({str(tmp_path)!r}); "
        "plots.confusion_png(np.eye(10, dtype=int), d / 'c.png', 'cell'); "
        "plots.learning_curve_png({'train/loss': [(0, 2.3), (5, 1.0)]}, d / 'l.png', 'cell'); "
        "print('matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    assert _png_size(tmp_path / "c.png") == (550, 480)
