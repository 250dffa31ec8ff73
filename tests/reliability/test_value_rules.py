"""Every numeric config value has a range and must be finite (``ablation/rules.py``): a value
outside it fails when the cell is validated, before any run exists, with one line naming
the field, the value and the range. Through the real Hydra composition, and the real CLI."""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from ablation import tracking
from ablation.config.compose import to_config
from ablation.config.rules import MAX_SEED, MIN_TRAIN_ROWS, RULES, Bound, check
from ablation.config.schema import ConfigError, package_dir, register_configs
from tests import zygote
from tests.conftest import store_uri
from tests.reliability.store_checks import assert_unchanged, seed_store
from tests.reliability.support import TEST_ENV

register_configs()

ADAM = ["optim=adam"]
MOMENTUM = ["optim=momentum"]

#: (overrides, the exact message)
REFUSED = [
    (["optim.lr=nan"], "optim.lr=nan is invalid; it must be a finite number > 0"),
    (["optim.lr=inf"], "optim.lr=inf is invalid; it must be a finite number > 0"),
    (["reg=l2", "reg.l2=inf"], "reg.l2=inf is invalid; it must be a finite number >= 0"),
    (["reg=l2", "reg.l2=nan"], "reg.l2=nan is invalid; it must be a finite number >= 0"),
    (["optim.max_loss=nan"], "optim.max_loss=nan is invalid; it must be a finite number > 0"),
    (["optim.max_loss=-inf"], "optim.max_loss=-inf is invalid; it must be a finite number > 0"),
    (["optim.max_loss=0"], "optim.max_loss=0.0 is invalid; it must be a finite number > 0"),
    ([*ADAM, "optim.beta1=1.0"], "optim.beta1=1.0 is invalid; it must be in [0, 1)"),
    ([*ADAM, "optim.beta1=-0.1"], "optim.beta1=-0.1 is invalid; it must be in [0, 1)"),
    ([*ADAM, "optim.beta2=nan"], "optim.beta2=nan is invalid; it must be in [0, 1)"),
    ([*ADAM, "optim.beta2=1"], "optim.beta2=1.0 is invalid; it must be in [0, 1)"),
    ([*MOMENTUM, "optim.momentum=nan"], "optim.momentum=nan is invalid; it must be in [0, 1)"),
    ([*MOMENTUM, "optim.momentum=1.5"], "optim.momentum=1.5 is invalid; it must be in [0, 1)"),
    (["seed=-1"], "seed=-1 is invalid; it must be in [0, 2**63 - 1]"),
    (
        ["seed=18446744073709551616"],
        "seed=18446744073709551616 is invalid; it must be in [0, 2**63 - 1]",
    ),
    (["optim.iterations=0"], "optim.iterations=0 is invalid; it must be in [1, 1000000000]"),
    (["optim.iterations=10000000000"], "optim.iterations=10000000000 is invalid"),
    (["optim.eval_every=0"], "optim.eval_every=0 is invalid; it must be in [1, 1000000000]"),
    ([*ADAM, "optim.batch_size=0"], "optim.batch_size=0 is invalid; it must be in [1, 1000000000]"),
    ([*ADAM, "optim.epochs=-2"], "optim.epochs=-2 is invalid; it must be in [1, 1000000000]"),
    (["data.n_val=-1"], "data.n_val=-1 is invalid; it must be an integer >= 0"),
    (["model.hidden=[200,0]"], "model.hidden=[200, 0] is invalid; it must be in [1, 100000]"),
    # validation rows come out of the training rows: at least 100 must be left
    (
        ["data=digits", "data.n_train=500", "data.n_val=401"],
        "data.n_val=401 leaves 99 of 500 training rows; keep at least 100 (data.n_val<=400)",
    ),
    (["data=digits", "data.n_val=1700"], "data.n_val=1700 leaves"),  # of the whole source
    (["data.n_train=60000", "data.n_val=60000"], "data.n_val=60000 leaves 0 of 60000"),
]

ACCEPTED = [
    ["seed=9223372036854775807"],  # the largest seed: it trains (checked by hand, see report)
    [*ADAM, "optim.beta1=0", "optim.beta2=0.999999"],
    [*MOMENTUM, "optim.momentum=0"],
    ["reg=l2", "reg.l2=0"],
    ["data=digits", "data.n_train=500", "data.n_val=400"],
    ["optim.iterations=5", "optim.eval_every=50"],  # decided: allowed, the last step is evaluated
    [*ADAM, "data=digits", "optim.batch_size=100000"],  # decided: allowed, one batch per epoch
]


@pytest.fixture(scope="module")
def composer():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield lambda overrides: compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize(("overrides", "message"), REFUSED, ids=[" ".join(o) for o, _ in REFUSED])
def test_a_value_outside_its_range_is_refused_with_the_rule(composer, overrides, message):
    with pytest.raises(ConfigError) as info:
        to_config(composer(overrides))
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("overrides", ACCEPTED, ids=[" ".join(o) for o in ACCEPTED])
def test_values_at_the_edges_of_their_range_are_accepted(composer, overrides):
    to_config(composer(overrides))


def test_every_rule_refuses_nan_and_infinity_and_says_its_range():
    for path in RULES:
        for bad in (math.nan, math.inf, -math.inf):
            with pytest.raises(ConfigError, match=rf"^{path}=\S+ is invalid; it must be "):
                check(path, bad)
    with pytest.raises(ConfigError, match="it must be a finite number"):
        check("optim.some_plugin_option", math.nan)  # no rule, still finite
    check("optim.some_plugin_option", 3.5)


def test_bounds_open_and_closed():
    fraction = Bound(0, 1, high_open=True)
    assert fraction.holds(0) and fraction.holds(0.999) and not fraction.holds(1)
    assert not Bound(0, low_open=True).holds(0) and Bound(0).holds(0)
    assert Bound(0, MAX_SEED, integer=True).holds(MAX_SEED)
    assert not Bound(0, MAX_SEED, integer=True).holds(MAX_SEED + 1)
    assert fraction.text == "in [0, 1)" and Bound(MIN_TRAIN_ROWS, integer=True).text == (
        "an integer >= 100"
    )


# -- the real CLI: nothing is created ------------------------------------------------------

CLI_CASES = {
    "run-lr-nan": ["data=digits", "optim.lr=nan"],
    "run-beta1-one": ["data=digits", "optim=adam", "optim.beta1=1.0"],
    "run-seed-2**64": ["data=digits", "seed=18446744073709551616"],
    # in a sweep, one bad cell among good ones stops it before anything runs
    "sweep-one-l2-inf": ["-m", "data=digits", "reg=l2", "reg.l2=0.1,inf"],
    "sweep-one-n_val": ["-m", "data=digits", "data.n_train=500", "data.n_val=0,450"],
}


@pytest.mark.slow
def test_the_cli_refuses_them_with_exit_2_and_creates_no_run(tmp_path, data_cache):
    study = tmp_path / "study"
    client = MlflowClient(store_uri(study))
    exp = client.create_experiment("ablation")
    run = client.create_run(exp, tags={tracking.TAG_ROLE: "cell"}, run_name="earlier")
    client.set_terminated(run.info.run_id, "FINISHED")
    env = {**os.environ, **TEST_ENV, "ABLATION_CACHE_DIR": str(data_cache)}
    env.pop("MLFLOW_TRACKING_URI", None)

    def run_case(case):
        folder = tmp_path / case
        before = seed_store(study, folder)
        result = zygote.run(
            [sys.executable, "-m", "ablation", *CLI_CASES[case]],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return case, result, before, folder

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(run_case, CLI_CASES))
    for case, result, before, folder in outcomes:
        assert result.returncode == 2, (case, result.stderr[-2000:])
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, (case, result.stderr[-2000:])
        assert " is invalid; it must be " in errors[0] or " training rows; keep " in errors[0]
        assert "Traceback" not in result.stderr, (case, result.stderr[-2000:])
        assert assert_unchanged(before, folder) == {}, case
