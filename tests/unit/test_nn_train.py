"""fit(): learning on real data, evaluation schedule, divergence, determinism, checks."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ablation.nn import MLP, OPTIMIZERS, DivergedError, History, fit, make_optimizer, mlp

PAPER_SHAPE = ([64, 200, 20, 10], ["leaky_relu", "tanh"])


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's bundled 8x8 digits scaled to [0, 1], fixed stratified 75/25 split."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def paper_net(init="kaiming", seed=0, dtype="float32"):
    return MLP(*PAPER_SHAPE, init=init, seed=seed, dtype=dtype)


@pytest.mark.parametrize(
    ("name", "lr", "epochs"),
    [("adam", 1e-3, 20), ("momentum", 0.05, 20)],
)
def test_reaches_95_percent_on_digits(digits, name, lr, epochs):
    X_tr, X_te, y_tr, y_te = digits
    net = paper_net()
    history = fit(
        net,
        make_optimizer(name, lr=lr),
        X_tr,
        y_tr,
        epochs=epochs,
        batch_size=32,
        X_test=X_te,
        y_test=y_te,
        seed=0,
    )
    assert history.final["test/acc"] >= 0.95
    assert history.metrics["test/acc"][0] < 0.3  # it learned: the initial net is near chance
    assert np.mean(net.predict(X_te) == y_te) == pytest.approx(history.final["test/acc"])


def test_full_batch_gd_decreases_the_loss_monotonically(digits):
    X_tr, _, y_tr, _ = digits
    history = fit(paper_net(), make_optimizer("gd", lr=0.05), X_tr, y_tr, iterations=10)
    losses = history.metrics["train/loss"]
    assert history.steps == list(range(11))
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses


def test_divergence_raises_with_iteration_and_loss(digits):
    X_tr, _, y_tr, _ = digits
    net = MLP([64, 200, 10], ["leaky_relu"], init="random", seed=0)
    with pytest.raises(
        DivergedError, match=r"iteration \d+: loss = .*lower the learning rate"
    ) as info:
        fit(net, make_optimizer("gd", lr=1e4), X_tr, y_tr, iterations=50)
    err = info.value
    assert isinstance(err, RuntimeError)
    assert 1 <= err.iteration <= 10
    assert str(err.iteration) in str(err)
    assert not np.isfinite(err.loss) or "non-finite" in str(err)
    assert err.history.steps[0] == 0  # what was recorded before the blow-up is kept
    again = pickle.loads(pickle.dumps(err))  # survives a trip between worker processes
    assert (again.iteration, str(again)) == (err.iteration, str(err))


def test_threaded_divergence_is_reported_without_numpy_warnings(digits, monkeypatch):
    # fit() silences numpy's overflow warnings; the worker threads must inherit that
    monkeypatch.setattr(mlp, "BLOCK_ROWS", 100)  # the 1347 training rows make 16 blocks
    X_tr, _, y_tr, _ = digits
    net = MLP([64, 200, 10], ["leaky_relu"], init="random", seed=0, threads=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning in any thread would fail the fit
        with pytest.raises(DivergedError):
            fit(net, make_optimizer("gd", lr=1e4), X_tr, y_tr, iterations=50)


def test_max_loss_catches_an_explosion_that_stays_finite(digits):
    # tanh before the output keeps the paper's net finite even at lr=1e3: only max_loss sees it
    X_tr, _, y_tr, _ = digits
    history = fit(paper_net("random"), make_optimizer("gd", lr=1e3), X_tr, y_tr, iterations=5)
    assert np.isfinite(history.final["train/loss"]) and history.final["train/loss"] > 100
    with pytest.raises(DivergedError, match=r"iteration 1: loss = .*above max_loss=100"):
        fit(
            paper_net("random"),
            make_optimizer("gd", lr=1e3),
            X_tr,
            y_tr,
            iterations=5,
            max_loss=100,
        )


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_params_stay_float32_with_every_optimizer(digits, name):
    X_tr, _, y_tr, _ = digits
    net = paper_net()
    fit(net, make_optimizer(name, lr=0.01), X_tr[:200], y_tr[:200], epochs=2, batch_size=50)
    assert all(p.dtype == np.float32 for pair in net.params for p in pair)


def test_float64_training_works_and_stays_float64(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = paper_net(dtype="float64")
    history = fit(
        net,
        make_optimizer("adam", lr=1e-3),
        X_tr,
        y_tr,
        epochs=3,
        batch_size=64,
        X_test=X_te,
        y_test=y_te,
    )
    assert all(p.dtype == np.float64 for pair in net.params for p in pair)
    assert history.final["test/acc"] > 0.8


def _train(digits, seed_net, seed_fit):
    X_tr, _, y_tr, _ = digits
    net = paper_net(seed=seed_net)
    fit(
        net, make_optimizer("momentum", lr=0.05), X_tr, y_tr, epochs=2, batch_size=64, seed=seed_fit
    )
    return [p for pair in net.params for p in pair]


def test_same_seed_bit_identical_different_seed_differs(digits):
    a = _train(digits, 0, 0)
    b = _train(digits, 0, 0)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    shuffled = _train(digits, 0, 1)
    assert not np.array_equal(a[0], shuffled[0])
    other_init = _train(digits, 1, 0)
    assert not np.array_equal(a[0], other_init[0])


@pytest.mark.parametrize(
    ("iterations", "eval_every", "steps"),
    [(7, 3, [0, 3, 6, 7]), (6, 3, [0, 3, 6]), (1, 1, [0, 1]), (4, 10, [0, 4])],
)
def test_full_batch_evaluation_schedule(digits, iterations, eval_every, steps):
    X_tr, X_te, y_tr, y_te = digits
    calls = []
    history = fit(
        paper_net(),
        make_optimizer("gd", lr=0.05),
        X_tr,
        y_tr,
        iterations=iterations,
        eval_every=eval_every,
        X_test=X_te,
        y_test=y_te,
        X_val=X_te[:50],
        y_val=y_te[:50],
        callback=lambda step, m: calls.append((step, m)),
    )
    assert [s for s, _ in calls] == steps == history.steps
    keys = {"train/loss", "train/acc", "test/loss", "test/acc", "val/loss", "val/acc"}
    assert all(set(m) == keys for _, m in calls)
    assert set(history.metrics) == keys
    assert history.final == calls[-1][1]
    assert all(0.0 <= m[k] <= 1.0 for _, m in calls for k in keys if k.endswith("/acc"))


def test_reused_training_metrics_equal_a_separate_evaluation(digits):
    X_tr, _, y_tr, _ = digits
    net = paper_net()
    initial = net.evaluate(X_tr, y_tr)
    history = fit(net, make_optimizer("gd", lr=0.1), X_tr, y_tr, iterations=3, l2=0.01)
    first = (history.metrics["train/loss"][0], history.metrics["train/acc"][0])
    assert first[0] == pytest.approx(initial[0], rel=1e-6)  # cross-entropy only, no L2 term
    assert first[1] == initial[1]
    final = net.evaluate(X_tr, y_tr)
    assert history.final["train/loss"] == pytest.approx(final[0], rel=1e-6)
    assert history.final["train/acc"] == final[1]


def test_epoch_schedule_progress_and_history(digits):
    X_tr, _, y_tr, _ = digits
    n = 300
    seen_steps, progress = [], []
    history = fit(
        paper_net(),
        make_optimizer("sgd", lr=0.05),
        X_tr[:n],
        y_tr[:n],
        epochs=3,
        batch_size=128,
        eval_every=2,
        callback=lambda s, m: seen_steps.append(s),
        progress=lambda i, total, loss: progress.append((i, total, loss)),
    )
    assert seen_steps == history.steps == [0, 2, 3]
    per_epoch = 3  # 128 + 128 + 44
    assert [p[0] for p in progress] == list(range(1, 3 * per_epoch + 1))
    assert {p[1] for p in progress} == {3 * per_epoch}
    assert all(np.isfinite(p[2]) for p in progress)
    assert isinstance(history, History) and history.updates == 3 * per_epoch
    assert len(history) == 3 and history.seconds > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, r"exactly one of iterations= .* or epochs=.*got iterations=None, epochs=None"),
        ({"iterations": 3, "epochs": 2}, r"exactly one of .*got iterations=3, epochs=2"),
        ({"iterations": 0}, r"iterations must be a positive integer, got 0"),
        ({"epochs": 2.5}, r"epochs must be a positive integer, got 2.5"),
        ({"epochs": 1, "batch_size": -4}, r"batch_size must be a positive integer, got -4"),
        ({"iterations": 2, "batch_size": 32}, r"batch_size=32 applies only with epochs="),
        ({"iterations": 2, "eval_every": 0}, r"eval_every must be a positive integer, got 0"),
        ({"iterations": 2, "l2": -1.0}, r"l2 must be a finite number >= 0, got -1.0"),
        ({"iterations": 2, "X_test": np.zeros((2, 64))}, r"give both X_test and y_test"),
        (
            {"iterations": 2, "X_val": np.zeros((2, 63)), "y_val": np.zeros(2, dtype=int)},
            r"expected 64 features per row, got 63",
        ),
        ({"iterations": 2, "callback": "print"}, r"callback must be callable or None"),
        ({"iterations": 2, "max_loss": -1}, r"max_loss must be a finite number >= 0, got -1"),
    ],
)
def test_bad_fit_arguments(digits, kwargs, match):
    X_tr, _, y_tr, _ = digits
    with pytest.raises(ValueError, match=match):
        fit(paper_net(), make_optimizer("gd", lr=0.1), X_tr, y_tr, **kwargs)


def test_optimizer_must_be_an_object(digits):
    X_tr, _, y_tr, _ = digits
    with pytest.raises(ValueError, match=r"got 'adam'; build one with make_optimizer"):
        fit(paper_net(), "adam", X_tr, y_tr, iterations=1)
