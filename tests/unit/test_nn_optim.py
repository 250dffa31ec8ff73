"""Optimisers: updates against explicit formulas, dtype of state, argument checks."""

import numpy as np
import pytest

from ablation.nn import OPTIMIZERS, make_optimizer


def make_problem(dtype="float64"):
    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=2).astype(dtype))]
    grads_seq = [
        [(rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=2).astype(dtype))]
        for _ in range(3)
    ]
    return params, grads_seq


def flat(pairs):
    return [p.copy() for pair in pairs for p in pair]


def test_registry_names():
    assert set(OPTIMIZERS) == {"gd", "sgd", "momentum", "adam"}


@pytest.mark.parametrize("name", ["gd", "sgd"])
def test_gd_and_sgd_take_a_plain_step(name):
    params, grads_seq = make_problem()
    expected = flat(params)
    opt = make_optimizer(name, lr=0.3)
    for grads in grads_seq:
        opt.step(params, grads)
        expected = [p - 0.3 * g for p, g in zip(expected, flat(grads), strict=True)]
    for got, exp in zip(flat(params), expected, strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-14)


def test_momentum_is_classical():
    params, grads_seq = make_problem()
    theta = flat(params)
    velocity = [np.zeros_like(t) for t in theta]
    opt = make_optimizer("momentum", lr=0.1, momentum=0.8)
    for grads in grads_seq:
        opt.step(params, grads)
        velocity = [0.8 * v - 0.1 * g for v, g in zip(velocity, flat(grads), strict=True)]
        theta = [t + v for t, v in zip(theta, velocity, strict=True)]
    for got, exp in zip(flat(params), theta, strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-13)


def test_momentum_default_is_0_9():
    assert make_optimizer("momentum", lr=0.1).momentum == 0.9


def test_adam_matches_the_paper_algorithm():
    params, grads_seq = make_problem()
    theta = flat(params)
    m = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = make_optimizer("adam", lr=lr)
    assert (opt.beta1, opt.beta2, opt.eps) == (b1, b2, eps)
    for t, grads in enumerate(grads_seq, start=1):
        opt.step(params, grads)
        for i, g in enumerate(flat(grads)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g**2
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            theta[i] = theta[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    for got, exp in zip(flat(params), theta, strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_params_and_state_stay_float32(name):
    params, grads_seq = make_problem("float32")
    opt = make_optimizer(name, lr=0.01)
    for grads in grads_seq:
        opt.step(params, grads)
    assert all(p.dtype == np.float32 for p in flat(params))
    state = [getattr(opt, attr, None) for attr in ("velocity", "m", "v")]
    for buffers in state:
        if buffers is not None:
            assert all(b.dtype == np.float32 for b in buffers)


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(
        ValueError, match=r"unknown optimizer 'adamw'; choose one of: gd, sgd, momentum, adam"
    ):
        make_optimizer("adamw", lr=0.1)


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown option\(s\) 'beta' for optimizer 'adam'; valid options: beta1, beta2, eps",
    ):
        make_optimizer("adam", lr=0.1, beta=0.9)
    with pytest.raises(ValueError, match=r"'momentum' for optimizer 'gd'; valid options: none"):
        make_optimizer("gd", lr=0.1, momentum=0.9)


@pytest.mark.parametrize("lr", [-0.1, 0, float("nan"), float("inf"), "fast"])
def test_bad_learning_rate(lr):
    # the one rule (LR_RULE), the same as the config's optim.lr check
    with pytest.raises(ValueError, match=r"learning rate lr must be a finite number > 0, got"):
        make_optimizer("sgd", lr=lr)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.5"):
        make_optimizer("momentum", lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\), got 1.0"):
        make_optimizer("adam", lr=0.1, beta2=1.0)
    with pytest.raises(ValueError, match=r"eps must be > 0, got 0"):
        make_optimizer("adam", lr=0.1, eps=0)
