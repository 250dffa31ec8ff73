"""What each config key means is said once (config/keys.py); hashes of existing configs do
not move; every path that builds a cell (Hydra, the grid's fast path, seeds=auto) builds
the same cell; the schema loads no MLflow and the numeric core no framework."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

from ablation.cell.cell import Cell
from ablation.config import keys
from ablation.config.schema import Config, package_dir, register_configs
from ablation.report import cells as report_cells
from ablation.sweep.grid import CellBuilder, expand_cells
from tests.conftest import REPO

register_configs()

# A user task with fields of its own; only imported, never trained here.
_TASK = types.ModuleType("keys_test_task")
_TASK.train = lambda cfg, log: {"test/acc": 1.0}
sys.modules["keys_test_task"] = _TASK
USER = "task._target_=keys_test_task.train"

#: (overrides, config_hash, cell_hash), computed by main at baf4098, before the table of
#: key meanings: a store written then resumes only while these stay.
PINNED = [
    ((), "0f053e6be5eb35fe", "1ff8c2dbd7f4b69d"),
    (("init=random", "reg=none", "data=42k"), "aaecf66ba2be6bd3", "5950520f6a8d2696"),
    (("init=kaiming", "reg=l2", "data=60k"), "97dd1ee4887f1c79", "9d16890e2b4f0009"),
    (("init=random", "reg=l2", "data=42k", "seed=3"), "c8e528e16bb5980e", "07b03b5834fa0a5f"),
    (("table3=random_l2_42k", "seed=1"), "a5a8ab1e084bceeb", "07b03b5834fa0a5f"),
    (("table3=kaiming_none_42k",), "7ffdc1a358de6f06", "001201a4d97d1b87"),
    (("reg=wd",), "b6c6afa1b2592d64", "2d7f689cbc5d9aa6"),
    (("reg=wd", "reg.wd=0.1"), "bf317c905230aab2", "b402ab3e1b665634"),
    (("reg=wd", "reg.wd=0.0", "seed=2"), "970f6ba18492afe1", "c9b22cd1e536a466"),
    (("data_seed=7", "seed=1"), "ff0ccc05fba2f841", "1ff8c2dbd7f4b69d"),
    (("optim=adam", "optim.beta2=0.99"), "e1548b1e1f7711bc", "57c240750dbf03bd"),
    (("optim=momentum",), "21a8d05cb471e398", "a6152d72ba613e9c"),
    (("optim=sgd", "data=digits"), "706a2960b41028c8", "5210976933f513fb"),
    (("depth=3", "optim.lr=0.05"), "dbe50838934a4fa8", "1890f546b9a43227"),
    (("data.n_val=5000", "dtype=float64", "init=xavier"), "cb062b9ea343533e", "254a72ead95e497b"),
    (
        ("optim=adam", "+optim.eps=1e-7", "experiment_name=other", "tracking.uri=/x", "rerun=true"),
        "c5320100f9e874e6",
        "9bfc230cb3868291",
    ),
    (
        ("task._target_=mymod.train", "+task.alpha=0.001", "+task.loss=hinge", "seed=4"),
        "806e3bfc2be195fa",
        "1614d251b75d1eb9",
    ),
    (
        ("task._target_=mymod.train", "+task.alpha=0.001", "data_seed=3"),
        "3ebb53915e525ed7",
        "6cbffc66951742ea",
    ),
]
sys.modules.setdefault("mymod", types.SimpleNamespace(train=_TASK.train))


@pytest.fixture(scope="module")
def hydra_dir():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def _cell(overrides) -> Cell:
    cfg = compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
    return Cell.from_config(cfg, overrides)


@pytest.mark.parametrize(("overrides", "config_key", "cell_key"), PINNED)
def test_hashes_of_existing_configs_do_not_move(hydra_dir, overrides, config_key, cell_key):
    cell = _cell(overrides)
    assert (cell.config_hash, cell.cell_hash) == (config_key, cell_key)


# every optimiser, reg=wd with 0 and 0.1, data_seed unset and set, plain values and groups
GRIDS = [
    pytest.param(
        [
            "data=digits",
            "optim=gd,sgd,momentum,adam",
            "reg=none,wd",
            "seed=0,1",
            "optim.lr=0.01,0.02",
        ],
        marks=pytest.mark.slow,
        id="optimisers",
    ),
    pytest.param(
        ["data=digits", "reg=wd", "reg.wd=0,0.1", "data_seed=null,3", "seed=0,1"], id="wd_data_seed"
    ),
    pytest.param([USER, "+task.alpha=0.1,0.2", "+task.loss=hinge,log", "seed=0,1"], id="user_task"),
]


@pytest.mark.parametrize("grid", GRIDS)
def test_every_path_builds_the_same_cells(hydra_dir, grid):
    master = hydra_dir.load_configuration("config", grid, RunMode.MULTIRUN)
    fast = expand_cells(master)  # the grid's fast path
    hydra_path = [_cell(c.overrides) for c in fast]  # Hydra composes each job
    assert [c.overrides for c in fast] == [c.overrides for c in hydra_path]
    assert fast == hydra_path  # configs, hashes, labels, params, options, task args
    assert expand_cells(master, fast=False) == hydra_path
    # seeds=auto's builder: a cell and a later round's seed, as the sweeper asks for them
    builder = CellBuilder(master, hydra_dir)
    for cell in hydra_path[:: max(1, len(hydra_path) // 3)]:
        unit = [o for o in cell.overrides if not o.startswith("seed=")]
        again = builder.cell([*unit, f"seed={cell.config.seed}"])
        assert dataclass_eq(again, cell, unit)
        assert builder.cell([*unit, "seed=9"]) == _cell([*unit, "seed=9"])


def dataclass_eq(built: Cell, composed: Cell, unit: list[str]) -> bool:
    """Equal but for the order of overrides (the sweeper puts the seed last)."""
    return built == Cell.build(composed.config, _flat(composed), [*unit, built.overrides[-1]])


def _flat(cell: Cell) -> dict:
    from ablation.config.compose import task_config
    from ablation.config.identity import flatten

    cfg = compose(config_name="config", overrides=list(cell.overrides))
    return flatten(task_config(cfg))


def test_the_params_of_a_grid_cell_are_its_runs_params(hydra_dir):
    master = hydra_dir.load_configuration(
        "config", ["data=digits", "optim=adam,gd", "seed=0,1"], RunMode.MULTIRUN
    )
    for cell in expand_cells(master):  # the fast path too: no task.* params for the MLP
        assert not any(k.startswith("task.") for k in cell.params)
        assert "tracking.uri" not in cell.params and "reg.wd" not in cell.params


# -- one place for key meanings ---------------------------------------------------------

OLD_LISTS = ("UNHASHED_KEYS", "LATER_KEYS", "NOT_PARAMS", "NOT_NAMED", "FACTOR_KEYS", "SEED_KEYS")


def _config_keys() -> set[str]:
    """Every flattened key of the schema, and every entry of the table."""
    from dataclasses import fields, is_dataclass

    found: set[str] = set(keys.KEYS)

    def walk(cls, prefix):
        for f in fields(cls):
            kind = f.default_factory if callable(f.default_factory) else None
            name = f"{prefix}{f.name}"
            if kind is not None and is_dataclass(kind):
                walk(kind, f"{name}.")
            else:
                found.add(name)

    walk(Config, "")
    return found


def _modules():
    for folder in ("ablation", "hydra_plugins"):
        yield from sorted((REPO / folder).rglob("*.py"))


#: Lists of keys that remain, in modules other helpers rewrite in this round (the report's
#: factors and load arguments, the UI's column order): file -> the keys, to move next.
NOT_YET = {
    "ablation/report/cells.py": {"tracking.", "hydra.", "experiment_name"},
    "ablation/report/predictions.py": {
        "data.n_train",
        "data.n_val",
        "data.path",
        "data.cache_dir",
        "seed",
    },
    "ablation/ui.py": {"optim.name", "depth", "seed", "init.name", "reg.name", "data.name"},
}


def test_key_meanings_are_listed_only_in_the_table():
    """A collection literal naming two or more config keys (one of them dotted) outside
    config/keys.py (or the value rules' table) is a key meaning kept in a second place."""
    config_keys = _config_keys()
    homes = {Path("ablation/config/keys.py"), Path("ablation/nn/rules.py")}
    found = []
    for path in _modules():
        rel = path.relative_to(REPO)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                assert not names & set(OLD_LISTS), f"{rel} defines {names & set(OLD_LISTS)}"
            if rel in homes or not isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
                continue
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            named = [
                i.value
                for i in items
                if isinstance(i, ast.Constant) and isinstance(i.value, str)
                if i.value in config_keys or i.value.rstrip(".") in config_keys
            ]
            listed = len(named) >= 2 and any("." in n for n in named)
            if listed and not set(named) <= NOT_YET.get(str(rel), set()):
                found.append(f"{rel}:{node.lineno} {named}")
    assert not found, "key meanings outside ablation/config/keys.py:\n" + "\n".join(found)


def test_consumers_read_the_table():
    assert report_cells.NOT_FACTORS is keys.NOT_OWN_FACTORS
    assert keys.FACTORS == ("init", "reg", "data", "depth", "optim")
    assert keys.TASK_FRAMEWORK_KEYS == ("_target_", "metric", "goal")
    assert keys.meaning("tracking.uri") is keys.KEYS["tracking"]
    assert keys.meaning("hydra/launcher") is keys.KEYS["hydra"]
    assert keys.meaning("model.hidden") == keys.Meaning()  # the defaults


def test_facts_sit_on_the_registered_entries():
    from ablation.config.schema import is_full_batch
    from ablation.data import DATASETS
    from ablation.nn import OPTIMIZERS
    from ablation.report.budget import updates_per_epoch

    assert {n for n, o in OPTIMIZERS.items() if o.full_batch} == {"gd"}
    assert is_full_batch("gd") and not is_full_batch("sgd")
    params = {"optim.name": "sgd", "optim.batch_size": 100, "data.name": "digits"}
    assert updates_per_epoch(params) == -(-DATASETS["digits"].train_size // 100)
    assert updates_per_epoch({**params, "optim.name": "gd"}) == 1


def test_the_config_and_the_core_read_one_rule_table():
    from ablation.config import rules as config_rules
    from ablation.nn import checks
    from ablation.nn import rules as core_rules

    assert config_rules.RULES is core_rules.RULES
    assert core_rules.RULES["optim.lr"].text == checks.LR_RULE
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1"):
        checks.check_unit_interval("momentum", 1)
    assert not core_rules.decay_is_valid(10, 0.1) and core_rules.decay_is_valid(1, 0.5)


# -- what each layer loads ----------------------------------------------------------------


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return {m.split(".")[0] for m in out.stdout.split()}


def test_the_schema_loads_no_mlflow_and_the_core_no_framework():
    assert "mlflow" not in _loaded_after("import ablation.config, ablation.config.schema")
    assert "mlflow" not in _loaded_after("import ablation.config.compose, ablation.cell.cell")
    core = _loaded_after("import ablation.nn")
    assert not {"hydra", "omegaconf", "mlflow", "pandas"} & core
    errors = _loaded_after("import ablation.errors")
    assert not {"mlflow", "hydra", "omegaconf", "numpy"} & errors
