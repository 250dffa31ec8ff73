"""Settings are checked before anything is created, and the terminal is never a target.

Three classes of hostile input, several cases each, through the real CLI:

- a sweep folder (``hydra.sweep.dir``) that cannot be created: a file or a dangling link in
  the way, a name too long, a special or read-only file system;
- names and values over MLflow's limits: an experiment name over what MLflow's SQL schema
  stores (256), a param value over 6000 characters, overrides over a tag's 8000;
- control characters in what the user typed (``ESC ] 0 ; ... BEL`` retitles a terminal,
  ``ESC [ 2J`` clears it), echoed in an error or a log line.

The first two exit 2 with one ``error:`` line and leave the folder as it was: no store, no
sweep folder, no parent run. The third never puts a raw control character on the terminal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests import zygote
from tests.conftest import REPO, store_uri
from tests.reliability.support import TEST_ENV

#: What a terminal acts on (newline and tab aside).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: Retitles the terminal, clears it, a C1 CSI colour, a carriage return, a right-to-left
#: override.
HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x9b31m\r\u202ex"
SGD = ["-cd", str(REPO / "examples" / "sklearn_sgd"), "-cn", "sgd_digits"]
TINY = ["data=digits", "optim.iterations=2", "report=false"]


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class Case:
    id: str
    args: list[str]
    message: str  # in the one error line
    setup: object = None
    needs_non_root: bool = False


def _file(case: Path) -> None:
    (case / "afile").write_text("not a folder\n")


def _dangling(case: Path) -> None:
    (case / "link").symlink_to(case / "nowhere")


def _read_only(case: Path) -> None:
    (case / "ro").mkdir()
    (case / "ro").chmod(0o555)


SWEEP_DIR = [
    Case("dir-a-file", ["hydra.sweep.dir=afile"], "hydra.sweep.dir=afile cannot be", _file),
    Case("dir-under-a-file", ["hydra.sweep.dir=afile/s"], "afile is not a folder", _file),
    Case("dir-dangling-link", ["hydra.sweep.dir=link/s"], "link is a link to nothing", _dangling),
    Case("dir-name-too-long", [f"hydra.sweep.dir={'x' * 300}/s"], "File name too long"),
    Case("dir-in-proc", ["hydra.sweep.dir=/proc/no-sweep"], "hydra.sweep.dir=/proc/no-sweep"),
    Case("dir-in-sys", ["hydra.sweep.dir=/sys/no-sweep"], "hydra.sweep.dir=/sys/no-sweep"),
    Case("dir-read-only", ["hydra.sweep.dir=ro/s"], "ro/s", _read_only, needs_non_root=True),
]
LIMITS = [
    Case("name-5000", [f"experiment_name={'n' * 5000}"], "is 5000 characters long"),
    Case("name-257", [f"experiment_name={'n' * 257}"], "MLflow stores at most 256"),
    Case("name-5000-single-run", [f"experiment_name={'n' * 5000}", "-"], "5000 characters"),
    Case("param-7000", [*SGD, f"task.loss={'h' * 7000}"], "at most 6000 per param value"),
    Case(
        "overrides-9000",
        [*SGD, *(f"+task.k{i:03d}={'v' * 80}" for i in range(100))],
        "at most 8000 per tag value",
    ),
]
ESCAPED = [
    Case("esc-in-sweep-dir", [f"hydra.sweep.dir={_quoted('afile/' + HOSTILE)}"], "", _file),
    Case("esc-in-group-option", [f"init={_quoted(HOSTILE)}"], "Could not find 'init/"),
    Case("esc-in-override-syntax", [f"init={HOSTILE}"], "init="),
    Case("esc-in-long-name", [f"experiment_name={_quoted(HOSTILE + 'n' * 300)}"], "is 321"),
    Case("esc-in-data-path", ["data=mnist_idx", f"data.path={_quoted(HOSTILE)}"], "data.path"),
]
CASES = SWEEP_DIR + LIMITS + ESCAPED


def _argv(case: Case) -> list[str]:
    args = list(case.args)
    if args[-1] == "-":  # a single run, not a sweep
        return [*TINY, *args[:-1]]
    config = args[:4] if args[:1] == ["-cd"] else []
    rest = args[len(config) :]
    sweep = ["seed=0"] if config else [*TINY, "seed=0,1"]
    return [*config, "-m", *sweep, *rest]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, data_cache):
    """Run every case (two at a time) once; id -> (folder, listing before, result, after)."""
    root = tmp_path_factory.mktemp("checked-first")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(TEST_ENV, ABLATION_CACHE_DIR=str(data_cache))

    def run(case: Case):
        folder = root / case.id
        folder.mkdir()
        if case.setup:
            case.setup(folder)
        before = sorted(p.name for p in folder.iterdir())
        result = zygote.run(
            [sys.executable, "-m", "ablation", *_argv(case)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return case.id, (folder, before, result, sorted(p.name for p in folder.iterdir()))

    todo = [c for c in CASES if not (c.needs_non_root and os.geteuid() == 0)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, todo))


def test_each_class_has_several_cases():
    assert min(len(SWEEP_DIR), len(LIMITS), len(ESCAPED)) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_with_one_line_before_anything_is_created(case, outcomes):
    if case.needs_non_root and os.geteuid() == 0:
        pytest.skip("root writes to read-only folders; the other cases cover this path")
    folder, before, result, after = outcomes[case.id]
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert not RAW_CONTROL.search(output), f"raw control characters in {output[-3000:]!r}"
    # a single run: Hydra makes its own log folder (outputs/) before any of our code runs
    hydras = {"outputs"} if case.args[-1] == "-" else set()
    assert set(after) - hydras == set(before), f"created: {sorted(set(after) - set(before))}"
    if case in ESCAPED:
        assert "\\x1b]0;PWNED\\x07\\x1b[2J" in output, output[-3000:]
        assert case.message in output, output[-3000:]
        return
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output[-3000:]
    assert case.message in lines[0], lines[0]


@pytest.mark.slow
def test_a_hostile_experiment_name_is_stored_as_typed_and_shown_escaped(workdir):
    """The sweep runs (the name is valid for MLflow); its log lines show the name escaped;
    the store holds it as typed. And 256 characters, MLflow's SQL limit, are accepted."""
    name = HOSTILE + "n" * (256 - len(HOSTILE))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ablation",
            "-m",
            *TINY,
            "seed=0",
            f"experiment_name={_quoted(name)}",
        ],
        cwd=workdir,
        env={**os.environ, **TEST_ENV},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert not RAW_CONTROL.search(output), f"raw control characters in {output[-3000:]!r}"
    assert "sweep '\\x1b]0;PWNED\\x07\\x1b[2J\\x9b31m\\r\\u202ex" in output, output[-3000:]
    exp = MlflowClient(store_uri(workdir)).get_experiment_by_name(name)
    assert exp is not None and exp.name == name
