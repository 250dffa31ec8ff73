"""``data_seed``: the training subset apart from ``seed`` (which keeps setting the init)."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from ablation.cell.cell import Cell
from ablation.config.schema import ConfigError, flatten, hashes, package_dir, register_configs
from ablation.data import load
from ablation.run.mlp import build_model, load_data

register_configs()


@pytest.fixture(scope="module")
def composer():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield lambda *o: compose("config", overrides=list(o))


@pytest.fixture(scope="module")
def cell_of(composer):
    return lambda *o: Cell.from_config(composer(*o), o)


@pytest.mark.parametrize(
    "overrides",
    [(), ("data=digits", "seed=3"), ("init=random", "reg=l2", "data=42k", "optim=sgd")],
)
def test_a_null_data_seed_leaves_the_hashes_of_existing_configs_unchanged(
    cell_of, composer, overrides
):
    cell = cell_of(*overrides)
    assert cell.config.data_seed is None
    flat = flatten(composer(*overrides))
    assert flat["data_seed"] is None
    without = {k: v for k, v in flat.items() if k != "data_seed"}  # a config from before
    assert hashes(flat) == hashes(without) == (cell.config_hash, cell.cell_hash)
    assert "data_seed" not in cell.params  # not logged as a param either


def test_data_seed_is_a_new_run_of_the_same_cell(cell_of):
    base = cell_of("data=digits", "seed=0")
    other = cell_of("data=digits", "seed=0", "data_seed=1")
    assert other.config_hash != base.config_hash
    assert other.cell_hash == base.cell_hash == cell_of("data=digits", "seed=4").cell_hash
    assert other.params["data_seed"] == 1
    assert other.run_name.endswith("seed=0 data_seed=1")


def test_data_seed_picks_the_subset_and_seed_keeps_the_init(cell_of):
    a = cell_of("data=digits", "data.n_train=1000", "data.n_val=100", "seed=0", "data_seed=1")
    b = cell_of("data=digits", "data.n_train=1000", "data.n_val=100", "seed=0")
    c = cell_of("data=digits", "data.n_train=1000", "data.n_val=100", "seed=1")
    da, db, dc = load_data(a), load_data(b), load_data(c)
    # the subset and the validation split follow data_seed ...
    assert len(da.y_train) == 900 and len(da.y_val) == 100
    np.testing.assert_array_equal(da.train_indices, dc.train_indices)
    np.testing.assert_array_equal(da.val_indices, dc.val_indices)
    assert not np.array_equal(da.train_indices, db.train_indices)
    ref = load("digits", n_train=1000, seed=1, n_val=100)
    np.testing.assert_array_equal(da.train_indices, ref.train_indices)
    # ... and the weights follow seed
    wa = build_model(a, da, 1)[0].params[0][0]
    wb = build_model(b, db, 1)[0].params[0][0]
    wc = build_model(c, dc, 1)[0].params[0][0]
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)


def test_a_negative_data_seed_is_refused(cell_of):
    with pytest.raises(ConfigError, match="data_seed=-1 is invalid"):
        cell_of("data_seed=-1")
