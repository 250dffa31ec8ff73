"""MLP: forward values, one hand-computed gradient-descent step, I/O, validation."""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from ablation.nn import MLP, make_optimizer, mlp


@pytest.fixture
def tiny():
    """A 2-3-2 tanh network with known weights and four samples (float64)."""
    net = MLP([2, 3, 2], ["tanh"], init="kaiming", seed=0, dtype="float64")
    W1 = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]])
    b1 = np.array([0.01, -0.02, 0.03])
    W2 = np.array([[0.7, -0.8], [0.9, 0.1], [-0.3, 0.2]])
    b2 = np.array([0.05, -0.05])
    for (W, b), (W_new, b_new) in zip(net.params, [(W1, b1), (W2, b2)], strict=True):
        W[...], b[...] = W_new, b_new
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7], [0.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    return net, X, y, (W1, b1, W2, b2)


def reference_step(X, y, W1, b1, W2, b2, lr, l2):
    """The paper's update rule, sample by sample, written out independently of ablation.nn."""
    gW1, gb1 = np.zeros_like(W1), np.zeros_like(b1)
    gW2, gb2 = np.zeros_like(W2), np.zeros_like(b2)
    loss = 0.0
    for x, label in zip(X, y, strict=True):
        h = np.tanh(x @ W1 + b1)
        z = h @ W2 + b2
        p = np.exp(z) / np.exp(z).sum()
        t = np.eye(2)[label]
        loss -= np.log(p[label])
        d_out = p - t  # output error (the paper's t_k - a_k, sign flipped for descent)
        d_hid = (W2 @ d_out) * (1 - h**2)  # tanh derivative
        gW2 += np.outer(h, d_out)
        gb2 += d_out
        gW1 += np.outer(x, d_hid)
        gb1 += d_hid
    n = len(X)
    loss = loss / n + l2 / 2 * ((W1**2).sum() + (W2**2).sum())
    return loss, (
        W1 - lr * (gW1 / n + l2 * W1),
        b1 - lr * gb1 / n,
        W2 - lr * (gW2 / n + l2 * W2),
        b2 - lr * gb2 / n,
    )


@pytest.mark.parametrize("l2", [0.0, 0.2])
def test_one_gd_step_equals_hand_computed_update(tiny, l2):
    net, X, y, weights = tiny
    expected_loss, expected = reference_step(X, y, *weights, lr=0.5, l2=l2)
    loss, grads = net.loss_and_grads(X, y, l2=l2)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    make_optimizer("gd", lr=0.5).step(net.params, grads)
    got = [p for pair in net.params for p in pair]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)


def test_predict_proba_rows_sum_to_one_and_predict_is_argmax(tiny):
    net, X, _, _ = tiny
    proba = net.predict_proba(X)
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    labels = net.predict(X)
    assert labels.dtype == np.int64 and labels.shape == (4,)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))


@pytest.mark.parametrize("n", [1, 2048, 2049, 6000, 60000])
def test_row_blocks_cover_every_row_once_in_near_equal_blocks(n):
    blocks = mlp._blocks(n)
    covered = np.concatenate([np.arange(n)[rows] for rows in blocks])
    np.testing.assert_array_equal(covered, np.arange(n))
    sizes = {rows.stop - rows.start for rows in blocks}
    assert max(sizes) <= mlp.BLOCK_ROWS and max(sizes) - min(sizes) <= 1
    fewest = -(-n // mlp.BLOCK_ROWS)  # more than one block: a multiple of GROUPS, the least
    expected = fewest if fewest == 1 else -(-fewest // mlp.GROUPS) * mlp.GROUPS
    assert len(blocks) == expected


@pytest.mark.parametrize("n", [42000, 60000, 10000])
def test_more_than_one_block_gives_every_group_as_many_blocks(n):
    groups = mlp._groups(n)
    assert len(groups) == mlp.GROUPS and len({len(g) for g in groups}) == 1


def test_predictions_and_evaluation_do_not_depend_on_the_row_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 3, size=50)
    net = MLP([6, 5, 4, 3], ["leaky_relu", "tanh"], init="random", seed=0, dtype="float64")
    whole = net.predict_proba(X), net.predict(X), net.evaluate(X, y)
    monkeypatch.setattr(mlp, "BLOCK_ROWS", 7)  # 8 blocks of 6 or 7 rows
    blocked = net.predict_proba(X), net.predict(X), net.evaluate(X, y)
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-14)
    np.testing.assert_array_equal(blocked[1], whole[1])
    assert blocked[2][0] == pytest.approx(whole[2][0], rel=1e-13)
    assert blocked[2][1] == whole[2][1]


def test_results_are_bit_identical_for_any_thread_count(monkeypatch):
    monkeypatch.setattr(mlp, "BLOCK_ROWS", 16)  # 16 blocks: every group and lane is used
    rng = np.random.default_rng(1)
    X = rng.random((200, 12), dtype=np.float32)
    y = rng.integers(0, 4, size=200)
    results = []
    with threadpool_limits(limits=1):  # one BLAS thread per Python thread, as documented
        for threads in (1, 2, 3, 4, 8):
            net = MLP([12, 9, 6, 4], ["leaky_relu", "tanh"], seed=0, threads=threads)
            loss, grads = net.loss_and_grads(X, y, l2=0.01)
            results.append((loss, grads, net.evaluate(X, y)))
    loss, grads, evaluation = results[0]
    assert len({r[0] for r in results}) == 1 and len({r[2] for r in results}) == 1
    for _, other, _ in results[1:]:
        for pair, other_pair in zip(grads, other, strict=True):
            for g, h in zip(pair, other_pair, strict=True):
                np.testing.assert_array_equal(g, h)
    one_block = MLP([12, 9, 6, 4], ["leaky_relu", "tanh"], seed=0)
    monkeypatch.setattr(mlp, "BLOCK_ROWS", 1000)
    assert one_block.loss_and_grads(X, y, l2=0.01)[0] == pytest.approx(loss, rel=1e-6)


def test_a_threaded_network_pickles_without_its_buffers_and_pool(monkeypatch):
    monkeypatch.setattr(mlp, "BLOCK_ROWS", 8)
    X, y = np.random.default_rng(2).random((40, 5)), np.arange(40) % 3
    net = MLP([5, 4, 3], ["relu"], seed=0, threads=2)
    before = net.evaluate(X, y)  # creates the pool and the lanes' buffers
    blob = pickle.dumps(net)
    assert len(blob) < 5_000
    copy = pickle.loads(blob)
    assert copy.threads == 2 and copy.evaluate(X, y) == before


def test_softmax_is_stable_for_huge_logits():
    net = MLP([2, 3], [], init="kaiming", seed=0, dtype="float32")
    W, b = net.params[0]
    W[...] = [[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]]
    X = np.array([[10.0, 0.0], [-10.0, 0.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        proba = net.predict_proba(X)
        loss, _ = net.loss_and_grads(X, np.array([0, 0]))
    np.testing.assert_allclose(proba, [[1, 0, 0], [0, 1, 0]], atol=1e-6)
    assert loss == pytest.approx(1e5, rel=1e-6)  # sample 2: logit gap 2e5, halved by the mean


def test_outputs_are_fresh_arrays_not_internal_buffers(tiny):
    net, X, y, _ = tiny
    p1 = net.predict_proba(X)
    _, g1 = net.loss_and_grads(X, y)
    keep = [d.copy() for pair in g1 for d in pair]
    net.predict_proba(X[::-1])
    net.loss_and_grads(X[::-1], y[::-1])
    np.testing.assert_array_equal(net.predict_proba(X), p1)
    for kept, now in zip(keep, [d for pair in g1 for d in pair], strict=True):
        np.testing.assert_array_equal(kept, now)


def test_out_buffers_receive_the_same_gradients(tiny):
    net, X, y, _ = tiny
    loss, fresh = net.loss_and_grads(X, y, l2=0.1)
    out = net.empty_grads()
    loss_out, returned = net.loss_and_grads(X, y, l2=0.1, out=out)
    assert returned is out and loss_out == loss
    for pair_fresh, pair_out in zip(fresh, out, strict=True):
        for a, b in zip(pair_fresh, pair_out, strict=True):
            np.testing.assert_array_equal(a, b)
    wrong = [(np.empty((3, 2)), np.empty(3)), (np.empty((3, 2)), np.empty(2))]
    with pytest.raises(ValueError, match=r"out must be a list of \(dW, db\).*empty_grads"):
        net.loss_and_grads(X, y, out=wrong)
    float32_out = [(dW.astype(np.float32), db.astype(np.float32)) for dW, db in out]
    with pytest.raises(ValueError, match=r"in the network's dtype"):
        net.loss_and_grads(X, y, out=float32_out)


def test_any_depth_works():
    X = np.random.default_rng(0).random((6, 5))
    for sizes in ([5, 3], [5, 4, 3], [5, 4, 4, 4, 4, 3]):
        net = MLP(sizes, ["relu"] * (len(sizes) - 2), seed=1)
        assert net.predict_proba(X).shape == (6, 3)
        _, grads = net.loss_and_grads(X, np.arange(6) % 3)
        assert [g.shape for pair in grads for g in pair] == [
            p.shape for pair in net.params for p in pair
        ]


def test_repr_tells_what_you_hold():
    net = MLP([784, 200, 20, 10], ["leaky_relu", "tanh"], init="kaiming", seed=0)
    n_params = 784 * 200 + 200 + 200 * 20 + 20 + 20 * 10 + 10
    assert net.n_params == n_params
    assert repr(net) == (
        f"MLP(784-200-20-10, leaky_relu/tanh/softmax, init=kaiming, float32, {n_params:,} params)"
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(tmp_path, dtype):
    net = MLP([6, 5, 4, 3], ["leaky_relu", "sigmoid"], init="random", seed=4, dtype=dtype)
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path, allow_pickle=False) as data:  # plain arrays, no pickle needed
        assert list(data["activations"]) == ["leaky_relu", "sigmoid"]
        assert data["activations"].dtype.kind == "U"
        assert list(data["sizes"]) == [6, 5, 4, 3]
    net2 = MLP.load(path)
    assert repr(net2) == repr(net)
    for (W, b), (W2, b2) in zip(net.params, net2.params, strict=True):
        assert W2.dtype == dtype
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    X = np.random.default_rng(0).random((10, 6))
    np.testing.assert_array_equal(net.predict_proba(X), net2.predict_proba(X))
    np.testing.assert_array_equal(net.predict(X), net2.predict(X))


def test_save_keeps_the_exact_file_name(tmp_path):
    path = tmp_path / "weights.bin"
    MLP([3, 2], []).save(str(path))
    assert path.exists()
    assert MLP.load(path).sizes == [3, 2]


def test_load_rejects_a_file_that_is_not_a_network(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved MLP"):
        MLP.load(path)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept_and_input_is_cast(dtype):
    net = MLP([4, 3, 2], ["tanh"], seed=0, dtype=dtype)
    X = np.random.default_rng(0).random((5, 4))  # float64 input
    loss, grads = net.loss_and_grads(X, np.array([0, 1, 0, 1, 1]))
    assert isinstance(loss, float)
    assert all(g.dtype == dtype for pair in grads for g in pair)
    assert net.predict_proba(X).dtype == dtype


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"sizes": [4, 3, 2], "activations": ["tanh", "relu"]},
            r"1 hidden layer\(s\) but 2 activation\(s\).*leaky_relu, tanh, sigmoid, relu",
        ),
        ({"sizes": [4, 3, 3, 2], "activations": ["tanh"]}, r"2 hidden layer\(s\) but 1"),
        ({"sizes": [4], "activations": []}, r"sizes \[4\] is too short.*len >= 2"),
        ({"sizes": [4, 0, 2], "activations": ["tanh"]}, r"positive integers; got 0"),
        ({"sizes": [4, -3, 2], "activations": ["tanh"]}, r"positive integers; got -3"),
        ({"sizes": [4, 2.5, 2], "activations": ["tanh"]}, r"positive integers; got 2.5"),
        (
            {"sizes": [4, 3, 2], "activations": ["tahn"]},
            r"unknown activation 'tahn'; choose one of: leaky_relu, tanh, sigmoid, relu",
        ),
        (
            {"sizes": [4, 3, 2], "activations": ["tanh"], "init": "he"},
            r"unknown init 'he'; choose one of: random, kaiming, xavier",
        ),
        (
            {"sizes": [4, 3, 2], "activations": ["tanh"], "dtype": "float16"},
            r"unknown dtype 'float16'; choose one of: float32, float64",
        ),
        ({"sizes": [4, 3, 2], "activations": "tanh"}, r"list of names.*\['tanh'\]"),
        ({"sizes": [4, 3, 2], "activations": ["tanh"], "threads": 0}, r"threads must be"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_bad_data_arguments():
    net = MLP([4, 3, 2], ["tanh"], seed=0)
    X = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"expected 4 features per row, got 5"):
        net.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"expected 4 features per row, got a 1-D array"):
        net.predict(np.zeros(4))
    with pytest.raises(ValueError, match=r"label 2 is out of range.*\[0, 2\)"):
        net.loss_and_grads(X, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"label -1 is out of range.*\[0, 2\)"):
        net.loss_and_grads(X, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"y has shape \(2,\); expected \(3,\)"):
        net.loss_and_grads(X, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"integer class labels, got dtype float64"):
        net.loss_and_grads(X, np.array([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"l2 must be a finite number >= 0, got -0.1"):
        net.loss_and_grads(X, np.array([0, 1, 0]), l2=-0.1)
    with pytest.raises(ValueError, match=r"no rows"):
        net.predict(np.zeros((0, 4)))


def test_numeric_core_imports_no_config_or_tracking_stack():
    code = (
        "import sys, ablation.nn; "
        "print(sorted({'hydra', 'omegaconf', 'mlflow', 'pandas'} & set(sys.modules)))"
    )
    repo = Path(__file__).resolve().parents[2]  # so `import ablation` works uninstalled too
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert out.stdout.strip() == "[]"
