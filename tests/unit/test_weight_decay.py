"""reg=wd: decoupled weight decay (AdamW's form), W *= 1 - lr * wd before every update."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from ablation.cell.cell import Cell
from ablation.config.schema import ConfigError, flatten, hashes, package_dir, register_configs
from ablation.nn import MLP, fit, make_optimizer

register_configs()


def _net(seed=0):
    return MLP([64, 32, 10], ["leaky_relu"], init="kaiming", seed=seed, dtype="float64")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 64))
    y = rng.integers(0, 10, size=200)
    return X, y


def test_with_gradient_descent_decoupled_decay_is_the_l2_penalty(data):
    """W(1 - lr wd) - lr g(W) = W - lr (g(W) + wd W): one and the same update for gd."""
    X, y = data
    a, b = _net(), _net()
    fit(a, make_optimizer("gd", 0.3), X, y, iterations=20, l2=0.05)
    fit(b, make_optimizer("gd", 0.3), X, y, iterations=20, weight_decay=0.05)
    for (Wa, ba), (Wb, bb) in zip(a.params, b.params, strict=True):
        np.testing.assert_allclose(Wa, Wb, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ba, bb, rtol=1e-10, atol=1e-12)


def test_with_adam_decoupled_decay_differs_from_l2_and_shrinks_the_weights(data):
    X, y = data
    plain, coupled, decoupled = _net(), _net(), _net()
    for net, kw in ((plain, {}), (coupled, {"l2": 0.5}), (decoupled, {"weight_decay": 0.5})):
        fit(net, make_optimizer("adam", 0.01), X, y, epochs=5, batch_size=50, **kw)
    norm = [sum(float(np.vdot(W, W)) for W, _ in n.params) for n in (plain, coupled, decoupled)]
    assert norm[2] < norm[0] and norm[1] < norm[0]
    assert not np.allclose(coupled.params[0][0], decoupled.params[0][0], rtol=1e-3)
    # biases are not decayed: after one update (gradient taken before the decay) the
    # biases equal those of a run without decay, the weights are shrunk by 1 - lr * wd
    a, b = _net(), _net()
    fit(a, make_optimizer("gd", 0.1), X, y, iterations=1)
    fit(b, make_optimizer("gd", 0.1), X, y, iterations=1, weight_decay=0.5)
    w0 = _net().params
    for (Wa, ba), (Wb, bb), (W0, _) in zip(a.params, b.params, w0, strict=True):
        np.testing.assert_array_equal(ba, bb)
        np.testing.assert_allclose(Wb, Wa - 0.1 * 0.5 * W0, rtol=1e-12, atol=1e-14)


def test_a_decay_that_would_flip_the_weights_is_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="weight_decay=.* must be below 1"):
        fit(_net(), make_optimizer("sgd", 0.5), X, y, epochs=1, weight_decay=2.0)
    with pytest.raises(ValueError, match="weight_decay"):
        fit(_net(), make_optimizer("sgd", 0.5), X, y, epochs=1, weight_decay=-1.0)


@pytest.fixture(scope="module")
def composer():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield lambda *o: compose("config", overrides=list(o))


def test_reg_wd_is_a_level_of_reg_with_its_own_strength(composer):
    cell = Cell.from_config(composer("reg=wd", "optim=adam"), ["reg=wd", "optim=adam"])
    assert cell.params["reg.name"] == "wd" and cell.params["reg.wd"] == pytest.approx(1e-4)
    assert "reg=wd(0.0001)" in cell.label
    other = Cell.from_config(composer("reg=wd", "reg.wd=0.01"), ["reg=wd", "reg.wd=0.01"])
    assert other.config_hash != cell.config_hash
    with pytest.raises(ConfigError, match=r"reg.wd=0.01 but reg=l2; use reg=wd reg.wd=0.01"):
        Cell.from_config(composer("reg=l2", "reg.wd=0.01"), [])
    with pytest.raises(ConfigError, match=r"reg.l2=0.01 but reg=wd; use reg=l2"):
        Cell.from_config(composer("reg=wd", "reg.l2=0.01"), [])


@pytest.mark.parametrize("overrides", [(), ("reg=l2", "data=42k"), ("optim=adam", "reg=none")])
def test_a_zero_wd_leaves_the_hashes_and_params_of_existing_configs_unchanged(composer, overrides):
    flat = flatten(composer(*overrides))
    assert flat["reg.wd"] == 0.0
    without = {k: v for k, v in flat.items() if k != "reg.wd"}  # a config from before reg.wd
    cell = Cell.from_config(composer(*overrides), overrides)
    assert hashes(flat) == hashes(without) == (cell.config_hash, cell.cell_hash)
    assert "reg.wd" not in cell.params


def test_a_sweep_over_wd_names_its_levels_including_zero(composer):
    """reg.wd is a param of reg=wd cells only; a grid mixing regs, or sweeping wd from 0,
    still describes itself (this failed with a KeyError before the sweep started)."""
    from ablation.cell.cell import varying_keys
    from ablation.sweep.summary import grid_levels

    overrides = [["reg=wd", "reg.wd=0"], ["reg=wd", "reg.wd=0.001"], ["reg=none"], ["reg=l2"]]
    cells = [Cell.from_config(composer(*o), o) for o in overrides]
    assert cells[0].params["reg.wd"] == 0.0 and "reg.wd" not in cells[2].params
    assert grid_levels(cells[:2]) == {"reg.wd": "0.0,0.001"}
    assert grid_levels(cells)["reg"] == "wd,none,l2"
    assert "reg.wd" in varying_keys(cells)
    assert grid_levels(cells)["reg.wd"] == "0.0,0.001,-"


def test_a_decay_that_would_flip_the_weights_is_refused_before_anything_runs(composer):
    with pytest.raises(ConfigError, match=r"reg.wd=20.0 with optim.lr=0.1 .* use reg.wd<10"):
        Cell.from_config(composer("optim=sgd", "reg=wd", "reg.wd=20"), [])
