"""Config groups and named studies through Hydra's compose API, validation and hashes."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ablation.config.compose import to_config
from ablation.config.schema import (
    ConfigError,
    cell_hash,
    config_hash,
    package_dir,
    register_configs,
)
from ablation.nn import ACTIVATIONS, INITS, OPTIMIZERS

register_configs()


@pytest.fixture(scope="module")
def composer():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield lambda overrides=(), name="config", hydra=False: compose(
            config_name=name, overrides=list(overrides), return_hydra_config=hydra
        )


def test_defaults_are_the_papers_network_trained_by_full_batch_gd(composer):
    cfg = to_config(composer())
    assert cfg.model.hidden == [200, 20]
    assert cfg.model.activations == ["leaky_relu", "tanh"]
    assert cfg.optim.name == "gd" and cfg.optim.iterations > 0 and cfg.optim.lr > 0
    assert cfg.data.name == "mnist"


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        (["init=random"], "init.name", "random"),
        (["init=xavier"], "init.name", "xavier"),
        (["reg=l2"], "reg.name", "l2"),
        (["data=42k"], "data.n_train", 42000),
        (["data=60k"], "data.n_train", 60000),
        (["data=digits"], "data.name", "digits"),
        (["depth=1"], "model.hidden", [200]),
        (["depth=3"], "model.activations", ["leaky_relu", "leaky_relu", "tanh"]),
        (["depth=3"], "model.hidden", [200, 100, 20]),
        (["optim=adam"], "optim.name", "adam"),
        (["optim=sgd", "optim.batch_size=64"], "optim.batch_size", 64),
        (["optim=momentum"], "optim.momentum", 0.9),
    ],
)
def test_every_group_option_composes_and_validates(composer, overrides, field, value):
    cfg = composer(overrides)
    to_config(cfg)
    assert OmegaConf.select(cfg, field) == value


@pytest.mark.parametrize(
    ("row", "init", "reg", "n_train"),
    [
        ("random_none_42k", "random", "none", 42000),
        ("kaiming_none_42k", "kaiming", "none", 42000),
        ("random_l2_42k", "random", "l2", 42000),
        ("random_l2_60k", "random", "l2", 60000),
        ("kaiming_l2_60k", "kaiming", "l2", 60000),
    ],
)
def test_table3_rows_set_the_three_factors(composer, row, init, reg, n_train):
    cfg = to_config(composer([f"table3={row}"]))
    assert (cfg.init.name, cfg.reg.name, cfg.data.n_train) == (init, reg, n_train)
    plain = composer([f"init={init}", f"reg={reg}", f"data={n_train // 1000}k"])
    assert config_hash(composer([f"table3={row}"])) == config_hash(plain)


@pytest.mark.parametrize("study", ["paper_table3", "full_grid", "depth", "optimizers"])
def test_named_studies_compose_as_multiruns(composer, study):
    cfg = composer(name=study, hydra=True)
    assert cfg.experiment_name == study
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.sweeper.params
    to_config(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lr=-0.5"], "optim.lr=-0.5 is invalid"),
        (["optim.lr=0"], "optim.lr=0.0 is invalid"),
        (["reg=l2", "reg.l2=-1"], "reg.l2=-1.0 is invalid"),
        (["reg.l2=0.1"], "reg=none"),
        (["data.n_train=60001"], "larger than the mnist training set"),
        (["data.n_train=5"], "too small"),
        (["optim=adam", "optim.epochs=null"], "optim=adam needs optim.epochs"),
        (["optim.iterations=0"], "optim.iterations=0 is invalid"),
        (["init.name=kaimng"], "choose one of: "),
        (["dtype=float16"], "choose one of: float32, float64"),
        (["data=kaggle_csv", "data.path=/no/such/train.csv"], "/no/such/train.csv"),
        (["optim.lrr=1"], "lrr"),
    ],
)
def test_bad_values_fail_with_the_field_and_the_fix(composer, overrides, message):
    with pytest.raises(Exception, match=message):
        to_config(composer(overrides))


def test_unknown_choice_lists_the_registry(composer):
    with pytest.raises(ConfigError) as info:
        to_config(composer(["model.activations=[leaky_relu,swish]"]))
    for name in ACTIVATIONS:
        assert name in str(info.value)


def test_config_choices_come_from_the_registries(composer):
    for name in INITS:
        to_config(composer([f"init.name={name}"]))
    for name in OPTIMIZERS:
        to_config(composer([f"optim={name}"]))


def test_hash_identifies_what_is_computed_not_where_it_goes(composer):
    base = composer()
    assert config_hash(base) == config_hash(composer(["tracking.uri=sqlite:////x/y.db"]))
    assert config_hash(base) == config_hash(composer(["experiment_name=other", "rerun=true"]))
    assert config_hash(base) != config_hash(composer(["seed=1"]))
    assert config_hash(base) != config_hash(composer(["optim.lr=0.2"]))
    assert cell_hash(base) == cell_hash(composer(["seed=1"]))
    assert cell_hash(base) != cell_hash(composer(["init=random"]))
