"""The Cell value: built once from a composed config, with what applies to its run."""

from __future__ import annotations

import dataclasses

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ablation.cell.cell import Cell
from ablation.config.schema import (
    ConfigError,
    cell_hash,
    config_hash,
    package_dir,
    register_configs,
)
from ablation.data import DATASETS, data_label
from ablation.naming import format_duration, safe_name
from ablation.nn import DTYPES, OPTIMIZERS
from ablation.nn.checks import LR_RULE
from ablation.sweep import launcher

register_configs()


@pytest.fixture(scope="module")
def composer():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield lambda overrides, hydra=True: compose(
            config_name="config", overrides=list(overrides), return_hydra_config=hydra
        )


@pytest.fixture(scope="module")
def cell_of(composer):
    return lambda *overrides: Cell.from_config(composer(overrides), overrides)


def test_a_cell_has_the_hashes_label_and_params_of_its_config(cell_of, composer):
    cell = cell_of("init=random", "data=42k", "seed=3")
    plain = composer(["init=random", "data=42k", "seed=3"], hydra=False)
    assert cell.config_hash == config_hash(plain) and cell.cell_hash == cell_hash(plain)
    assert cell.label == "init=random reg=none data=42k depth=2 optim=gd"
    assert cell.run_name == cell.label + " seed=3"
    assert cell.shown == "init=random data=42k seed=3"
    assert cell.full_batch and cell.optimizer_options == {}
    assert cell.params["init.name"] == "random" and cell.params["data.n_train"] == 42000
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.label = "other"


def test_params_hold_only_what_applies(cell_of):
    gd = cell_of()
    assert not {"optim.momentum", "optim.beta1", "optim.beta2"} & set(gd.params)
    assert not {"data.path", "data.cache_dir", "plugins", "tracking.uri"} & set(gd.params)
    assert gd.params["optim.iterations"] == 300
    adam = cell_of("optim=adam", "optim.beta2=0.99")
    assert adam.params["optim.beta1"] == 0.9 and adam.params["optim.beta2"] == 0.99
    assert "optim.momentum" not in adam.params and not adam.full_batch
    assert adam.optimizer_options == {"beta1": 0.9, "beta2": 0.99}
    momentum = cell_of("optim=momentum", "optim.momentum=0.8")
    assert momentum.optimizer_options == {"momentum": 0.8}
    assert "optim.beta1" not in momentum.params


def test_options_come_from_the_optimisers_declarations(cell_of):
    for name in ("momentum", "adam", "sgd"):
        cell = cell_of(f"optim={name}")
        assert set(cell.optimizer_options) <= set(OPTIMIZERS[name].options)


def test_an_undeclared_optimiser_option_is_a_config_error(cell_of):
    with pytest.raises(ConfigError, match=r"optim.lrr is not an option of optim=gd"):
        cell_of("optim.lrr=1")


def test_the_learning_rate_rule_is_stated_once(cell_of):
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(ConfigError, match=f"it must be {LR_RULE}"):
            cell_of(f"optim.lr={bad}")


def test_data_facts_come_from_the_registry(cell_of):
    assert DATASETS["digits"].n_features == 64 and DATASETS["mnist"].train_size == 60_000
    assert data_label("mnist", None) == "60k" and data_label("mnist", 42000) == "42k"
    assert data_label("kaggle_csv", None) == "kaggle_csv:42k"
    assert data_label("digits", None) == "digits" and data_label("digits", 500) == "digits:500"
    with pytest.raises(ConfigError, match="larger than the digits training set"):
        cell_of("data=digits", f"data.n_train={DATASETS['digits'].train_size + 1}")
    with pytest.raises(ConfigError, match=r"needs data.path \(the folder with the four IDX"):
        cell_of("data=mnist_idx")


def test_dtypes_are_the_cores():
    from ablation.config import schema as config

    assert config.DTYPES is DTYPES


def test_names_and_durations():
    assert safe_name("..") == "experiment" and safe_name("a/b") == "a_b"
    assert format_duration(75) == "1m15s" and format_duration(3700) == "1h01m"


def test_blas_threads_follow_the_launcher(monkeypatch):
    monkeypatch.delenv(launcher.BLAS_THREADS_ENV, raising=False)
    auto = OmegaConf.create({"_target_": "x.AutoLauncher", "in_turn": True})
    assert launcher.blas_threads(auto) == launcher.cores()
    auto.in_turn = False
    assert launcher.blas_threads(auto) == 1
    assert launcher.blas_threads(OmegaConf.create({"_target_": launcher.BASIC_LAUNCHER})) is None
    assert launcher.blas_threads(OmegaConf.create({"_target_": "joblib.Launcher"})) == 1
    assert launcher.blas_threads(None) is None
    monkeypatch.setenv(launcher.BLAS_THREADS_ENV, "3")  # the user's setting wins
    assert launcher.blas_threads(auto) == 3


def test_the_auto_launchers_log_filter_does_not_outlive_its_sweep(monkeypatch):
    import hydra._internal.core_plugins.basic_launcher as basic
    from hydra.types import HydraContext

    from hydra_plugins.ablation_sweeps.auto_launcher import (
        _BASIC_LOG,
        AutoLauncher,
        _drop_job_lines,
    )

    class Nothing:  # stands in for the delegate, which is not under test here
        def setup(self, **kwargs):
            pass

        def launch(self, overrides, idx):
            assert _drop_job_lines in _BASIC_LOG.filters  # on while the cells run
            return []

    auto = AutoLauncher(in_turn=True)
    context = HydraContext(config_loader=object(), callbacks=None)  # type: ignore[arg-type]
    auto.config, auto.hydra_context, auto.task_function = {}, context, None
    before = list(_BASIC_LOG.filters)
    monkeypatch.setattr(basic, "BasicLauncher", Nothing)
    auto.launch([], 0)
    auto.launch([], 0)
    assert _BASIC_LOG.filters == before
