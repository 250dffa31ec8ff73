"""Extending without editing the package: a toy optimiser and a toy data source, registered
by a user's module (``plugins=[...]``) with their yaml on ``hydra.searchpath``, run through
a real sweep into a real store (docs/extending.md)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli, store_uri

TOY_MODULE = '''
"""A user's components: the optimiser ToySGD (one option, shrink) and the data source toy."""
import numpy as np

from ablation.data import DatasetSpec, register
from ablation.data.dataset import Source
from ablation.nn import OPTIMIZERS
from ablation.nn.optim import Optimizer


class ToySGD(Optimizer):
    """p -= lr * shrink * g"""

    name = "toysgd"
    options = ("shrink",)

    def __init__(self, lr, shrink=0.5):
        super().__init__(lr)
        self.shrink = float(shrink)

    def step(self, params, grads):
        self.t += 1
        for p, g, tmp in self._flat(params, grads):
            np.multiply(g, p.dtype.type(self.lr * self.shrink), out=tmp)
            p -= tmp


OPTIMIZERS["toysgd"] = ToySGD


def read_toy(path, cache_dir):
    """4x4 images: class k lights pixel k brightly, on noise; 300 train, 100 test."""
    rng = np.random.default_rng(7)

    def draw(n):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, size=(n, 4, 4)).astype(np.uint8)
        images.reshape(n, 16)[np.arange(n), labels] = 255
        return images, labels

    (tr_x, tr_y), (te_x, te_y) = draw(300), draw(100)
    return Source(tr_x, tr_y, te_x, te_y, source="toy (generated)")


register(
    DatasetSpec("toy", "generated 4x4 digits", False, read_toy, train_size=300, n_features=16)
)
'''


@pytest.fixture
def toy_plugin(tmp_path):
    """A package on PYTHONPATH and a conf folder with one yaml per component."""
    pkg = tmp_path / "toy_ablation"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(TOY_MODULE)
    conf = tmp_path / "toy_conf"
    (conf / "optim").mkdir(parents=True)
    (conf / "data").mkdir()
    (conf / "optim" / "toysgd.yaml").write_text(
        textwrap.dedent(
            """\
            name: toysgd
            lr: 0.5
            shrink: 0.5
            iterations: null
            epochs: 3
            batch_size: 64
            eval_every: 1
            """
        )
    )
    (conf / "data" / "toy.yaml").write_text("name: toy\nn_train: null\n")
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    args = ["plugins=[toy_ablation]", f"hydra.searchpath=[file://{conf}]"]
    return {"env": {"PYTHONPATH": path}, "args": args, "root": tmp_path}


def _runs(workdir, experiment):
    client = MlflowClient(store_uri(workdir))
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} not in store"
    runs = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'cell'")
    return client, runs


@pytest.mark.slow
def test_a_registered_optimiser_and_data_source_run_through_a_real_sweep(workdir, toy_plugin):
    sweep = ["-m", "data=toy", "optim=toysgd", "optim.shrink=0.5,0.05", "experiment_name=toy"]
    result = cli(*sweep, *toy_plugin["args"], cwd=workdir, env=toy_plugin["env"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sweep 'toy': 2 cells" in result.stdout

    client, runs = _runs(workdir, "toy")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    by_shrink = {r.data.params["optim.shrink"]: r for r in runs}
    assert set(by_shrink) == {"0.5", "0.05"}
    for run in runs:
        params = run.data.params
        assert params["optim.name"] == "toysgd" and params["data.name"] == "toy"
        # only what applies: no other optimiser's options, no unset paths, no plugin list
        assert not {"optim.momentum", "optim.beta1", "optim.beta2"} & set(params)
        assert not {"data.path", "data.cache_dir", "plugins"} & set(params)
        assert run.data.tags["ablation.data_source"] == "toy (generated)"
        assert run.data.tags["ablation.cell"].endswith("data=toy depth=2 optim=toysgd")

    # the option reached the core: the logged loss is the one ToySGD(shrink) gives here
    sys.path.insert(0, str(toy_plugin["root"]))
    try:
        import toy_ablation  # noqa: F401  (registers toysgd and toy in this process)

        from ablation.data import load
        from ablation.nn import MLP, FitOptions, fit, make_optimizer

        data = load("toy", seed=0)
        for shrink, run in by_shrink.items():
            net = MLP([16, 200, 20, 10], ["leaky_relu", "tanh"], init="kaiming", seed=0)
            options = FitOptions(epochs=3, batch_size=64, eval_every=1, seed=0, max_loss=1000)
            opt = make_optimizer("toysgd", 0.5, shrink=float(shrink))
            history = fit(net, opt, data.X_train, data.y_train, options)
            logged = run.data.metrics["train/loss"]
            assert logged == pytest.approx(history.final["train/loss"], rel=1e-5), shrink
    finally:
        sys.path.remove(str(toy_plugin["root"]))
        for name in ("toysgd",):
            from ablation.nn import OPTIMIZERS

            OPTIMIZERS.pop(name, None)
        from ablation.data import DATASETS

        DATASETS.pop("toy", None)
        sys.modules.pop("toy_ablation", None)
    losses = {s: r.data.metrics["train/loss"] for s, r in by_shrink.items()}
    assert losses["0.5"] != losses["0.05"]

    # the config artifact keeps the plugin's option
    local = client.download_artifacts(by_shrink["0.05"].info.run_id, "config.yaml", str(workdir))
    assert "shrink: 0.05" in Path(local).read_text()


@pytest.mark.slow
def test_a_gd_cell_logs_no_minibatch_optimiser_options(workdir, toy_plugin):
    sweep = ["-m", "data=toy", "optim.iterations=3", "seed=0,1", "experiment_name=toygd"]
    result = cli(*sweep, *toy_plugin["args"], cwd=workdir, env=toy_plugin["env"])
    assert result.returncode == 0, result.stderr[-3000:]
    _, runs = _runs(workdir, "toygd")
    assert len(runs) == 2
    for run in runs:
        params = run.data.params
        assert params["optim.name"] == "gd" and params["optim.iterations"] == "3"
        assert not {"optim.momentum", "optim.beta1", "optim.beta2", "optim.shrink"} & set(params)
        assert "data.path" not in params


def test_an_option_the_optimiser_does_not_declare_fails_before_any_run(workdir):
    result = cli("-m", "data=digits", "optim.shrnk=0.5", "seed=0,1", cwd=workdir)
    assert result.returncode == 2
    assert "optim.shrnk is not an option of optim=gd" in result.stderr
    assert not (workdir / "mlruns").exists() or "done " not in result.stdout  # nothing ran


def test_a_plugin_that_cannot_be_imported_is_one_line(workdir):
    result = cli("data=digits", "plugins=[no_such_pkg_xyz]", cwd=workdir)
    assert result.returncode == 2
    assert "plugins: cannot import 'no_such_pkg_xyz'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_registered_optimisers_and_sources_facts_reach_the_schema_and_the_budget():
    """docs/extending.md: ``full_batch`` on the optimiser, ``train_size`` on the source;
    nothing else to edit (the report's budget reads them from the registries)."""
    from ablation.config.schema import is_full_batch
    from ablation.data import DATASETS, DatasetSpec, register
    from ablation.nn import OPTIMIZERS
    from ablation.nn.optim import GD
    from ablation.report.budget import updates_per_epoch

    class ToyGD(GD):
        name = "toygd"

    spec = DatasetSpec("toyrows", "rows only", False, lambda path, cache: None, train_size=640)
    OPTIMIZERS["toygd"] = ToyGD
    register(spec)
    try:
        assert ToyGD.full_batch and is_full_batch("toygd")
        full = {"optim.name": "toygd", "optim.batch_size": 64, "data.name": "toyrows"}
        assert updates_per_epoch(full) == 1
        assert updates_per_epoch({**full, "optim.name": "sgd"}) == 10  # 640 rows / 64
    finally:
        OPTIMIZERS.pop("toygd")
        DATASETS.pop("toyrows")
