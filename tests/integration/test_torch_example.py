"""The documented PyTorch example (``examples/torch_mlp``) through the real CLI, when torch
is installed (it is not a dependency of ``ablation``; CI may leave it out)."""

from __future__ import annotations

import importlib.util

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, cli, store_uri

EXAMPLE = ["-cd", str(REPO / "examples" / "torch_mlp"), "-cn", "torch_digits"]
# the example's grid, cut to 2 cells of 2 epochs: the whole digits set is 1,797 images
SMALL = ["task.hidden=16", "task.dropout=0.0,0.3", "seed=0", "task.epochs=2", "report=false"]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed (pip install torch to run examples/torch_mlp)",
)
def test_torch_mlp_example(workdir):
    done = cli(*EXAMPLE, *SMALL, cwd=workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 cells, 0 already FINISHED, 2 to run" in done.stdout
    assert done.stdout.count("] done task.") == 2
    assert "best cell task.dropout=" in done.stdout
    client = MlflowClient(store_uri(workdir))
    exp = client.get_experiment_by_name("torch_digits")
    runs = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'cell'")
    assert sorted(r.data.params["task.dropout"] for r in runs) == ["0.0", "0.3"]
    for run in runs:
        assert run.info.status == "FINISHED", run.data.tags.get("ablation.failure")
        assert 0.1 < run.data.metrics["test/acc"] <= 1.0
        history = client.get_metric_history(run.info.run_id, "train/loss")
        assert sorted(m.step for m in history) == [1, 2]  # one point per epoch
        assert "model.pt" in {a.path for a in client.list_artifacts(run.info.run_id)}
