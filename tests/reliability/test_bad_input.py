"""Bad input is rejected before it costs anything, with a message naming the problem.

Every case runs the real CLI in a folder whose store already holds a study. A config
error must exit non-zero before any run is created; a problem that only shows when the
data is read or the network trains (a corrupt file, a diverging learning rate) must end
as one FAILED run that says why. Either way the rest of the store is left as it was.

The cases are independent, so a module fixture runs them a few at a time up front and
each parametrised test checks its own outcome.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from ablation import tracking
from tests import zygote
from tests.reliability.support import TEST_ENV


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _garbage_idx(case: Path) -> None:
    folder = case / "idx"
    folder.mkdir()
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        kind = "idx3" if "images" in name else "idx1"
        (folder / f"{name}-{kind}-ubyte").write_bytes(os.urandom(200))


def _truncated_idx(case: Path) -> None:
    folder = case / "idx"
    folder.mkdir()
    for split, n in (("train", 60000), ("t10k", 10000)):
        images = struct.pack(">IIII", 2051, n, 28, 28) + bytes(1000)  # far too short
        (folder / f"{split}-images-idx3-ubyte").write_bytes(images)
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + bytes(n))


def _corrupt_csv(case: Path) -> None:
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    row = "1," + ",".join(["0"] * 783) + ",x"
    (case / "train.csv").write_text(f"{header}\n{row}\n")


def _file_in_the_way(case: Path) -> None:
    (case / "afile").write_text("not a folder\n")


def _damaged_store(case: Path) -> None:
    (case / "other").mkdir()
    (case / "other" / "mlflow.db").write_bytes(os.urandom(5000))


def _read_only_dir(case: Path) -> None:
    (case / "ro").mkdir()
    (case / "ro").chmod(0o555)


@dataclass
class Case:
    id: str
    args: list[str]
    message: str  # must appear in the output (and in the FAILED run's failure tag)
    failed_run: bool = False  # the right outcome is one FAILED run, not a refusal to start
    setup: object = None
    needs_non_root: bool = False


CASES = [
    Case("init-unknown", ["init=kaimng"], "kaimng"),
    Case("data-unknown", ["data=70k"], "70k"),
    Case("key-unknown", ["optim.lrr=0.1"], "optim.lrr"),
    Case("lr-not-a-number", ["optim.lr=abc"], "optim.lr"),
    Case("iterations-not-an-integer", ["optim.iterations=1.5"], "optim.iterations"),
    Case("lr-negative", ["optim.lr=-0.1"], "optim.lr=-0.1"),
    Case("lr-zero", ["optim.lr=0"], "optim.lr=0"),
    Case("l2-negative", ["reg=l2", "reg.l2=-1"], "reg.l2=-1"),
    Case("n_train-zero", ["data.n_train=0"], "data.n_train=0"),
    Case("n_train-above-available", ["data.n_train=5000"], "data.n_train=5000"),
    Case("seed-negative", ["seed=-1"], "seed=-1"),
    Case("depth-unknown", ["depth=4"], "depth=4"),
    Case("dtype-unknown", ["dtype=float16"], "float16"),
    Case("experiment-name-empty", ["experiment_name="], "experiment_name is empty"),
    Case("sweep-list-empty", ["-m", "init="], "init"),
    Case("sweep-range-empty", ["-m", "seed=range(0,0)"], "the sweep is empty"),
    Case("one-bad-cell-in-a-sweep", ["-m", "optim.lr=0.1,-1"], "optim.lr=-1"),
    Case(
        "data-path-missing", ["data=mnist_idx", "data.path={case}/no-such-folder"], "no-such-folder"
    ),
    Case("data-path-not-given", ["data=kaggle_csv"], "needs data.path"),
    Case(
        "store-folder-is-a-file",
        ["tracking.uri=sqlite:///{case}/afile/mlflow.db"],
        "afile",
        setup=_file_in_the_way,
    ),
    Case(
        "store-folder-not-creatable",
        ["tracking.uri=sqlite:////proc/no-store/mlflow.db"],
        "cannot create the tracking store folder /proc/no-store",
    ),
    Case(
        "store-folder-read-only",
        ["tracking.uri=sqlite:///{case}/ro/mlflow.db"],
        "not writable",
        setup=_read_only_dir,
        needs_non_root=True,
    ),
    Case(
        "store-file-damaged",
        ["-m", "tracking.uri=sqlite:///{case}/other/mlflow.db"],
        "file is not a database",
        setup=_damaged_store,
    ),
    Case(
        "tracking-server-refuses",
        ["tracking.uri=http://127.0.0.1:{port}"],
        "cannot reach the MLflow server",
    ),
    Case("tracking-uri-unknown-scheme", ["tracking.uri=nosuch://store"], "unknown scheme"),
    # only visible once the data is read or the network trains: a FAILED run
    Case(
        "idx-corrupt",
        ["data=mnist_idx", "data.path={case}/idx"],
        "magic number",
        failed_run=True,
        setup=_garbage_idx,
    ),
    Case(
        "idx-truncated",
        ["data=mnist_idx", "data.path={case}/idx"],
        "truncated",
        failed_run=True,
        setup=_truncated_idx,
    ),
    Case(
        "csv-corrupt",
        ["data=kaggle_csv", "data.path={case}/train.csv"],
        "not an integer",
        failed_run=True,
        setup=_corrupt_csv,
    ),
    Case("lr-diverges", ["optim.lr=1e4", "optim.iterations=30"], "diverged", failed_run=True),
]


def _full_args(case: Case, folder: Path) -> list[str]:
    """The case's arguments plus small, fast defaults (so a check that is missing costs
    seconds, not a full MNIST training, and shows up as a FINISHED run)."""
    args = [a.format(case=folder, port=_free_port()) for a in case.args]
    if not any(a.startswith("data=") for a in args):
        args.append("data=digits")
    if not any(a.startswith("optim.iterations=") for a in args):
        args.append("optim.iterations=5")
    return args


def snapshot(uri: str) -> dict:
    """Everything a user would see in the store: experiments, runs, their data and files."""
    client = MlflowClient(uri)
    state = {}
    for exp in client.search_experiments(view_type=ViewType.ALL):
        runs = client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
        state[exp.name] = {
            r.info.run_id: (
                r.info.status,
                r.info.lifecycle_stage,
                r.data.params,
                r.data.metrics,
                r.data.tags,
                sorted(a.path for a in client.list_artifacts(r.info.run_id)),
            )
            for r in runs
        }
    return state


def _prepare(template: Path, folder: Path) -> str:
    """A copy of an existing store holding one FINISHED run of study 'ablation'."""
    (folder / "mlruns").mkdir(parents=True)
    shutil.copy(template, folder / "mlruns" / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    client = tracking.client_for(uri)
    exp_id = tracking.ensure_experiment(client, uri, "ablation")
    run_id = tracking.start_run(client, exp_id, name="earlier", tags={tracking.TAG_ROLE: "cell"})
    client.log_param(run_id, "optim.lr", "0.1")
    client.log_metric(run_id, "test/acc", 0.9)
    client.log_text(run_id, "earlier work\n", "notes.txt")
    client.set_terminated(run_id, "FINISHED")
    return uri


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, data_cache):
    """Run every case (three at a time) once; id -> (case, folder, result, before, after)."""
    root = tmp_path_factory.mktemp("bad-input")
    template = root / "template.db"
    tracking.client_for(f"sqlite:///{template}")  # an empty store with MLflow's schema
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(TEST_ENV, ABLATION_CACHE_DIR=str(data_cache))

    def run(case: Case):
        folder = root / case.id
        uri = _prepare(template, folder)
        if case.setup:
            case.setup(folder)
        before = snapshot(uri)
        result = zygote.run(
            [sys.executable, "-m", "ablation", *_full_args(case, folder)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return case.id, (case, folder, result, before, snapshot(uri))

    todo = [c for c in CASES if not (c.needs_non_root and os.geteuid() == 0)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(run, todo))


def test_the_table_is_big_enough():
    assert len(CASES) >= 15
    assert sum(c.failed_run for c in CASES) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_or_fails_its_run_and_nothing_else_changes(case, outcomes):
    if case.needs_non_root and os.geteuid() == 0:
        pytest.skip("root writes to read-only folders; the other store cases cover this path")
    _, folder, result, before, after = outcomes[case.id]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert case.message in output, output[-3000:]

    assert set(after) == set(before), "experiments were added or removed"
    for name, runs in before.items():
        assert {k: after[name][k] for k in runs} == runs, f"earlier runs of {name!r} changed"
    new = {
        rid: data for name in after for rid, data in after[name].items() if rid not in before[name]
    }
    if not case.failed_run:
        assert new == {}, "a refused input must not create any run"
        assert "Traceback" not in output, output[-3000:]
        return
    _run_id, (status, stage, params, _metrics, tags, artifacts) = new.popitem()
    assert not new, "exactly one new run"
    assert (status, stage) == ("FAILED", "active")
    assert case.message in tags[tracking.TAG_FAILURE]
    assert "error.txt" in artifacts
    assert params["experiment_name"] == "ablation"
    assert not (folder / "mlruns" / "mlflow.db-journal").exists()
