"""A study yaml of the user's own, as a new user writes it: without the defaults list it is
one line that names the two lines to add, exit 2, before anything is created (Hydra's own
hint, ``+seed``, would launch jobs that cannot run); the README's example works as written."""

from __future__ import annotations

import re
import textwrap

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, cli, report_cli, store_uri

TASK = """
def train(cfg, log):
    return {"test/acc": 0.5 + cfg["C"] / 10}
"""
BODY = """
experiment_name: {name}
task:
  _target_: task.train
  C: 1.0
hydra:
  mode: MULTIRUN
  sweeper:
    params:
      task.C: 0.1,1.0
      {seed_key}: range({seeds})
"""
TWO_LINES = "put these two lines at its top: '# @package _global_' and 'defaults: [config, _self_]'"


def _write(folder, head: str, seed_key: str = "seed") -> None:
    folder.mkdir()
    (folder / "task.py").write_text(textwrap.dedent(TASK))
    (folder / "study.yaml").write_text(
        head + textwrap.dedent(BODY).format(name="bare", seed_key=seed_key, seeds=2)
    )


@pytest.mark.parametrize(
    ("head", "seed_key", "extra"),
    [
        ("", "seed", []),  # no defaults list at all
        ("", "+seed", []),  # Hydra's hint followed in the yaml
        ("", "seed", ["+seed=0,1"]),  # ... or on the command line
        ("", "seed", ["--cfg", "job"]),
        ("# @package _global_\ndefaults:\n  - _self_\n", "seed", []),  # a list without config
        ("defaults:\n  - override hydra/launcher: basic\n", "seed", []),
    ],
    ids=["no-defaults", "plus-seed-in-yaml", "plus-seed-typed", "cfg-job", "self-only", "override"],
)
def test_a_study_without_the_framework_config_is_one_line_and_creates_nothing(
    workdir, head, seed_key, extra
):
    _write(workdir / "mine", head, seed_key)
    done = cli("-cd", "mine", "-cn", "study", *extra, cwd=workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: mine/study.yaml does not build on the framework's config")
    assert lines[0].endswith(TWO_LINES)
    assert "+seed" not in done.stderr and "Traceback" not in done.stdout + done.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["mine"]  # no multirun/, no mlruns/


def test_a_study_that_builds_on_a_named_study_passes_the_check(workdir):
    (workdir / "mine").mkdir()
    (workdir / "mine" / "study.yaml").write_text("defaults:\n  - depth\n  - _self_\n")
    done = cli("-cd", "mine", "-cn", "study", "--cfg", "job", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "experiment_name: depth" in done.stdout


@pytest.mark.slow
def test_the_readme_example_works_as_written(workdir):
    """README "Your own model": the two files as printed, then the command as printed."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Your own model")[1].split("\n## ")[0]
    written = []
    for body in re.findall(r"```(?:python|yaml)\n(.*?)```", section, flags=re.S):
        path = workdir / body.splitlines()[0].removeprefix("# ").strip()
        path.parent.mkdir(exist_ok=True)
        path.write_text(body)
        written.append(path.name)
    assert written == ["task.py", "study.yaml"]
    assert len((workdir / "my_study" / "task.py").read_text().splitlines()) == 11
    (command,) = [c for c in re.findall(r"^python -m ablation (-cd .*?)\s+#", section, re.M)]
    done = cli(*command.split(), "report=false", cwd=workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "9 cells, 0 already FINISHED" in done.stdout
    assert re.search(
        r"best cell task\.C=1: test/acc 0\.\d{4} \(\d\d\.\d\d%\) \(highest", done.stdout
    )


# the BODY study, 3 seeds a cell, with its confirmatory contrast declared in the file
DECLARED = "# @package _global_\ndefaults: [config, _self_]\ncontrasts: [{contrast}]" + BODY.format(
    name="declared", seed_key="seed", seeds=3, contrast="{contrast}"
)


@pytest.mark.slow
def test_contrasts_declared_in_the_study_file_are_the_reports_confirmatory_family(workdir):
    """Declared before the study runs, kept with its runs: the report (with no --contrasts)
    Holm-corrects them as their own family; a contrast it cannot read stops the study first."""
    folder = workdir / "mine"
    folder.mkdir()
    (folder / "task.py").write_text(textwrap.dedent(TASK))
    (folder / "study.yaml").write_text(DECLARED.format(contrast='"task.C: 1.0 vs 0.1"'))
    done = cli("-cd", "mine", "-cn", "study", "report=false", cwd=workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    out = workdir / "reports"
    rep = report_cli("--experiment", "declared", "--out", str(out), "--no-figures", cwd=workdir)
    assert rep.returncode == 0, rep.stderr[-3000:]
    effects = pd.read_csv(out / "declared" / "effects.csv")
    (row,) = effects[effects["family"] == "confirmatory"].to_dict("records")
    assert row["factor"] == "task.C" and row["estimate"] == pytest.approx(9.0, abs=1e-6)  # points
    md = (out / "declared" / "report.md").read_text("utf-8")
    assert "Declared (confirmatory): task.C: 1.0 vs 0.1." in md

    (folder / "study.yaml").write_text(DECLARED.format(contrast='"task.C 1.0 vs 0.1"'))
    bad = cli("-cd", "mine", "-cn", "study", "experiment_name=bad", cwd=workdir)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert lines[0].startswith("error: contrasts: cannot read the declared contrast")
    assert lines[1:] == ["  in the cell: task.C=0.1 seed=0 experiment_name=bad"]  # as for any key
    assert "Traceback" not in bad.stderr
    client = MlflowClient(store_uri(workdir))
    assert client.get_experiment_by_name("bad") is None
