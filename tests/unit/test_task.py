"""The task config group: task=mlp keeps every MLP config's identity; a user task's cell
is defined by its own fields and seed, and is called with them (ablation/task.py)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from ablation.cell.cell import Cell
from ablation.cell.task import TaskResultError, _final_metrics, task_label, user_config
from ablation.config.schema import MLP_TASK, ConfigError, package_dir, register_configs

register_configs()

USER_TASK = "task._target_=tests.unit.test_task.train_constant"


def train_constant(cfg: dict, log) -> dict[str, float]:
    """A user task for these tests (never trained here; Cell only imports it)."""
    return {"test/acc": 0.5}


@pytest.fixture(scope="module")
def cell_of():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield lambda *overrides: Cell.from_config(
            compose(config_name="config", overrides=list(overrides), return_hydra_config=True),
            overrides,
        )


# (overrides, config_hash, cell_hash) computed on main before the task group existed:
# a store written then must still resume, and its cells still group, after it. gd's default
# lr was 1.0 then (0.3 since the full-budget protocol pilot): those configs name it.
LR1 = "optim.lr=1.0"
MLP_HASHES = [
    ((LR1,), "26252b749df46f21", "1eb58116d6abc5ea"),
    (("init=random", "data=42k", "seed=3", LR1), "8972bdd915f42d06", "4158d4368109f255"),
    (("optim=adam", "optim.beta2=0.99"), "e1548b1e1f7711bc", "57c240750dbf03bd"),
    (("table3=random_l2_60k", LR1), "ca17277ed242c269", "e96fb3d76e5706d6"),
    (("depth=3", "reg=l2", "reg.l2=0.001", LR1), "a201e1b6e9a94f72", "dd4de5a73b0d08ad"),
    (("data=digits", "optim=momentum"), "aa75a22fa0671c5e", "afe2466897b561a7"),
]


@pytest.mark.parametrize(("overrides", "config_key", "cell_key"), MLP_HASHES)
def test_mlp_configs_keep_the_hashes_they_had_before_tasks(
    cell_of, overrides, config_key, cell_key
):
    cell = cell_of(*overrides)
    assert cell.is_mlp and cell.config.task._target_ == MLP_TASK
    assert (cell.config_hash, cell.cell_hash) == (config_key, cell_key)
    assert cell.task_args == {}
    assert not any(k.startswith("task.") for k in cell.params)


def test_explicit_task_mlp_is_the_default(cell_of):
    assert cell_of("task=mlp").config_hash == cell_of().config_hash


def test_the_mlp_task_takes_no_fields_of_its_own(cell_of):
    with pytest.raises(ConfigError, match="task.alpha is not a setting of task=mlp"):
        cell_of("task.alpha=0.1")


def test_a_user_task_is_defined_by_its_own_fields_and_seed(cell_of):
    cell = cell_of(USER_TASK, "task.alpha=0.001", "task.loss=hinge", "seed=2")
    assert not cell.is_mlp
    assert cell.task_args == {"alpha": 0.001, "loss": "hinge", "seed": 2}
    assert cell.params == {
        "seed": 2,
        "task._target_": "tests.unit.test_task.train_constant",
        "task.alpha": 0.001,
        "task.loss": "hinge",
        "experiment_name": "ablation",  # as every run logs them
        "rerun": False,
    }
    assert cell.label == "alpha=0.001 loss=hinge"  # no function name: it is the same for all
    # its own fields and the seed change the run; the MLP's groups do not reach it
    assert cell_of(USER_TASK, "task.alpha=0.01", "task.loss=hinge", "seed=2").config_hash != (
        cell.config_hash
    )
    same = cell_of(USER_TASK, "task.alpha=0.001", "task.loss=hinge", "seed=2", "init=random")
    assert same.config_hash == cell.config_hash
    metric = cell_of(USER_TASK, "task.alpha=0.001", "task.loss=hinge", "seed=2", "task.metric=x/y")
    assert metric.config_hash == cell.config_hash  # what the report reads, not what is computed
    goal = cell_of(USER_TASK, "task.alpha=0.001", "task.loss=hinge", "seed=2", "task.goal=min")
    assert goal.config_hash == cell.config_hash and goal.config.task.goal == "min"
    assert "task.goal" not in goal.params and "goal" not in goal.task_args  # a tag, not a param
    other_seed = cell_of(USER_TASK, "task.alpha=0.001", "task.loss=hinge", "seed=3")
    assert other_seed.config_hash != cell.config_hash
    assert other_seed.cell_hash == cell.cell_hash
    assert cell.cell_hash != cell_of().cell_hash


def test_a_user_task_takes_nested_and_list_fields(cell_of):
    cell = cell_of(USER_TASK, "+task.model={width:64,act:relu}", "task.sizes=[1,2]")
    assert cell.task_args["model"] == {"width": 64, "act": "relu"}
    assert cell.task_args["sizes"] == [1, 2]
    assert cell.params["task.model.width"] == 64


def test_an_unimportable_target_fails_before_any_job_with_one_line(cell_of):
    with pytest.raises(ConfigError) as err:
        cell_of("task._target_=no_such_pkg_xyz.train")
    message = str(err.value)
    assert "task._target_='no_such_pkg_xyz.train' cannot be imported" in message
    assert "PYTHONPATH" in message and "\n" not in message
    with pytest.raises(ConfigError, match="cannot be imported"):
        cell_of("task._target_=tests.unit.test_task.no_such_function")
    with pytest.raises(ConfigError, match="is not a function"):
        cell_of("task._target_=tests.unit.test_task.USER_TASK")
    with pytest.raises(ConfigError, match="not a dotted name"):
        cell_of("task._target_=train")
    with pytest.raises(ConfigError, match="task.metric is empty"):
        cell_of(USER_TASK, "task.metric=' '")
    with pytest.raises(ConfigError, match=r"task.goal='up' is not a valid choice; choose max"):
        cell_of(USER_TASK, "task.goal=up")


def test_the_task_gets_its_own_fields_and_the_seed_not_the_framework_fields():
    node = {
        "_target_": "pkg.train",
        "metric": "test/acc",
        "goal": "max",
        "alpha": 1e-4,
        "loss": "hinge",
    }
    assert user_config(node, 7) == {"alpha": 1e-4, "loss": "hinge", "seed": 7}
    assert task_label("pkg.mod.train", {"alpha": 1e-4, "sizes": [1, 2]}) == "alpha=0.0001"
    assert task_label("pkg.mod.train", {"sizes": [1, 2]}) == "train"  # no scalar field


def test_final_metrics_are_numbers_by_key():
    assert _final_metrics({"test/acc": 1, "n": 2.5}, {}) == {"test/acc": 1.0, "n": 2.5}
    assert _final_metrics(None, {"test/acc": 0.9}) == {"test/acc": 0.9}
    with pytest.raises(TaskResultError, match="returned a float; return a dict"):
        _final_metrics(0.9, {})
    with pytest.raises(TaskResultError, match="'test/acc': 'high'; every final metric"):
        _final_metrics({"test/acc": "high"}, {})


def test_the_report_tells_a_user_task_from_the_mlp_by_its_logged_target():
    import pandas as pd

    from ablation.report.sections import user_task

    mlp = pd.DataFrame({"params": [{"init.name": "random", "seed": "0"}, {"seed": "1"}]})
    assert user_task(mlp) is None
    mine = pd.DataFrame({"params": [{"task._target_": "task.train", "task.alpha": "0.1"}] * 2})
    assert user_task(mine) == "task.train"
