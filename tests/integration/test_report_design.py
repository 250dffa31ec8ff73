"""The report reads the design: planted answers through the real CLI and a user task.

A user task returns a planted accuracy (effects by its fields + a small deterministic
noise per seed and cell); sweeps through ``python -m ablation`` build each design into a
real store; ``python -m ablation.report`` writes the report and effects.csv. Designs:
an incomplete grid, a failed seed, a crossover, an unbalanced complete grid whose pooled
means point the wrong way, a one-seed grid; and a metric where lower is better.
"""

from __future__ import annotations

import re
import textwrap

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli, report_cli, store_uri

pytestmark = pytest.mark.slow

TASK = """
import math

def train(cfg, log):
    a, b, c, d, x, m = (int(cfg[k]) for k in ("a", "b", "c", "d", "x", "m"))
    s = cfg["seed"]
    noise = 0.3 * math.sin(1.7 * s + 2.3 * a + 3.1 * b + 0.7 * c + 1.1 * d + 0.5 * x)
    acc = 80.0 + 1.0 * a + 10.0 * b + (2.0 if d == 0 else -2.0) * c + 3.0 * d
    acc += 2.0 * (x > 0) + noise
    if cfg["fail"] and x == 2 and s == 2:
        acc -= 42.0  # one seed that failed to train: 40 points below its level
    acc += 5.0 * m
    err = 0.10 + 0.05 * m + 0.001 * noise  # m raises the error and the accuracy: opposite orders
    log.metrics({"test/acc": acc / 100}, step=1)
    return {"test/acc": acc / 100, "test/err": err}
"""

STUDY = """
# @package _global_
defaults:
  - config
  - _self_
experiment_name: {name}
report: false
task:
  _target_: plant.train
  metric: {metric}
  goal: {goal}
  a: 0
  b: 0
  c: 0
  d: 0
  x: 0
  m: 0
  fail: false
"""


def _report(folder, name: str, *args: str):
    return report_cli(
        "--experiment",
        name,
        "--tracking-uri",
        store_uri(folder),
        "--out",
        str(folder / "reports"),
        "--no-figures",
        *args,
        cwd=folder,
    )


def _study(tmp_path_factory, name: str, sweeps: list[list[str]], metric="test/acc", goal="max"):
    folder = tmp_path_factory.mktemp(name)
    (folder / "plant.py").write_text(textwrap.dedent(TASK))
    (folder / f"{name}.yaml").write_text(STUDY.format(name=name, metric=metric, goal=goal))
    for overrides in sweeps:
        run = cli(
            "-cd", str(folder), "-cn", name, "-m", *overrides,
            f"tracking.uri={store_uri(folder)}", cwd=folder,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    report = _report(folder, name)
    assert report.returncode == 0, report.stderr[-3000:]
    md = (folder / "reports" / name / "report.md").read_text("utf-8")
    effects = pd.read_csv(folder / "reports" / name / "effects.csv", keep_default_na=False)
    return folder, md, effects


def _section(md: str, title: str) -> str:
    start = md.index(f"## {title}")
    nxt = md.find("\n## ", start + 1)
    return md[start : nxt if nxt > 0 else None]


def _overview(md: str) -> list[str]:
    section = _section(md, "Effects (model of the design")
    return [ln[2:] for ln in section.splitlines() if ln.startswith("- ")]


def _row(effects: pd.DataFrame, factor: str, level, baseline, within: str = "") -> pd.Series:
    hit = effects[
        (effects["factor"] == factor)
        & (effects["level"].astype(str) == str(level))
        & (effects["baseline"].astype(str) == str(baseline))
        & (effects["within"] == within)
    ]
    assert len(hit) == 1, (factor, level, baseline, within, effects)
    return hit.iloc[0]


def _common(md: str, effects: pd.DataFrame) -> None:
    assert "no effect" not in md.lower()
    assert list(effects.columns) == [
        "factor", "level", "baseline", "within", "estimate", "lo", "hi", "p_holm",
        "p_better", "family", "n", "n_baseline",
    ]  # fmt: skip


def test_incomplete_design_says_a_raises_by_its_planted_point(tmp_path_factory):
    seeds = "seed=range(5)"
    _, md, effects = _study(
        tmp_path_factory,
        "incomplete",
        [["task.a=0,1", "task.b=0", seeds], ["task.a=0", "task.b=1", seeds]],
    )
    _common(md, effects)
    a = _row(effects, "task.a", 1, 0)
    b = _row(effects, "task.b", 1, 0)
    assert a["estimate"] == pytest.approx(1.0, abs=0.4) and a["lo"] > 0
    assert b["estimate"] == pytest.approx(10.0, abs=0.4) and b["lo"] > 0
    sentences = _overview(md)
    (sa,) = [s for s in sentences if s.startswith("task.a=1")]
    assert sa.startswith("task.a=1 raises test accuracy by 1.") and "lowers" not in sa
    assert "assuming no task.a × task.b interaction" in sa
    assert not any("lowers" in s for s in sentences)


def test_failed_seed_contrasts_and_overview_agree_and_the_refit_is_named(tmp_path_factory):
    _, md, effects = _study(
        tmp_path_factory, "failedseed", [["task.x=0,1,2", "task.fail=true", "seed=range(5)"]]
    )
    _common(md, effects)
    x1 = _row(effects, "task.x", 1, 0)
    assert x1["estimate"] == pytest.approx(2.0, abs=0.4) and x1["p_holm"] < 0.05
    assert 0.9 < x1["p_better"] <= 1.0  # 5 seeds a side: P(better) is shown
    sentences = _overview(md)
    assert any(s.startswith("task.x=1 raises test accuracy by 2.") for s in sentences)
    contrasts = _section(md, "Contrasts between factor levels")
    assert "- task.x=1 beats task.x=0 (averaged over the other factors) by 2." in contrasts
    assert not any("lowers" in s for s in sentences)  # level 2's mean is pulled down, unresolved
    x2 = _row(effects, "task.x", 2, 0)
    assert x2["lo"] < 0 < x2["hi"] and x2["p_holm"] >= 0.05
    effects_text = _section(md, "Effects (model of the design")
    assert "Sensitivity: refitted without the 1 seed(s) that failed to train" in effects_text
    assert "the two fits disagree: task.x=2 raises test accuracy by 2." in effects_text
    assert "heteroscedasticity-robust (HC3)" in effects_text


def test_crossover_sign_flip_is_named(tmp_path_factory):
    _, md, effects = _study(
        tmp_path_factory, "crossover", [["task.c=0,1", "task.d=0,1", "seed=range(5)"]]
    )
    _common(md, effects)
    at0 = _row(effects, "task.c", 1, 0, "task.d=0")
    at1 = _row(effects, "task.c", 1, 0, "task.d=1")
    assert at0["estimate"] == pytest.approx(2.0, abs=0.4) and at0["lo"] > 0
    assert at1["estimate"] == pytest.approx(-2.0, abs=0.4) and at1["hi"] < 0
    flips = [
        s for s in _overview(md) if s.startswith("The effect of task.c flips sign with task.d")
    ]
    assert len(flips) == 1
    assert re.search(
        r"\+2\.\d\d points .* at task\.d=0 .*, but -2\.\d\d points .* at task\.d=1", flips[0]
    )


def test_unbalanced_design_uses_marginal_means_not_pooled_ones(tmp_path_factory):
    folder, md, effects = _study(
        tmp_path_factory,
        "unbalanced",
        [
            ["task.a=0", "task.b=0", "seed=range(3)"],
            ["task.a=1", "task.b=1", "seed=range(3)"],
            ["task.a=0", "task.b=1", "seed=range(9)"],
            ["task.a=1", "task.b=0", "seed=range(9)"],
        ],
    )
    _common(md, effects)
    runs = pd.read_csv(folder / "reports" / "unbalanced" / "runs.csv")
    pooled = runs.groupby("task.a")["test/acc"].mean()
    assert pooled[1] < pooled[0] - 0.03  # the pooled means point the wrong way (-4 points)
    a = _row(effects, "task.a", 1, 0)
    assert a["estimate"] == pytest.approx(1.0, abs=0.4) and a["lo"] > 0
    for within in ("task.b=0", "task.b=1"):
        assert _row(effects, "task.a", 1, 0, within)["estimate"] == pytest.approx(1.0, abs=0.4)
    sentences = _overview(md)
    assert any(s.startswith("task.a=1 raises test accuracy by 1.") for s in sentences)
    assert not any("lowers" in s for s in sentences)
    assert {"run_id", "cell", "task.a", "task.b", "seed", "data_seed", "status"} <= set(runs)
    assert {"failed_to_train", "test/acc", "test/err", "config_hash", "git_commit"} <= set(runs)
    assert len(runs) == 24


def test_one_seed_grid_says_what_it_cannot_resolve(tmp_path_factory):
    _, md, effects = _study(
        tmp_path_factory, "oneseed", [["task.a=0,1", "task.b=0,1", "task.d=0,1", "seed=0"]]
    )
    _common(md, effects)
    assert _row(effects, "task.a", 1, 0)["estimate"] == pytest.approx(1.0, abs=0.5)
    assert _row(effects, "task.b", 1, 0)["estimate"] == pytest.approx(10.0, abs=0.5)
    section = _section(md, "Effects (model of the design")
    found = re.search(r"differences below (\d+\.\d\d) points .* are not resolved", section)
    assert found and 0 < float(found.group(1)) < 5
    assert "classical OLS" in section  # one run per cell: HC3 is undefined, said so
    assert not any("lowers" in s for s in _overview(md))


def test_goal_min_metric_and_its_opposite_name_opposite_winners(tmp_path_factory):
    folder, md, effects = _study(
        tmp_path_factory,
        "goal",
        [["task.m=0,1", "seed=range(3)"]],
        metric="test/err",
        goal="min",
    )
    assert "Best cell by test/err (lower is better): task.m=0" in md
    row = _row(effects, "task.m", 1, 0)
    assert row["estimate"] == pytest.approx(0.05, abs=0.01)  # as logged, not in percent
    assert "task.m=0 beats task.m=1" in _section(md, "Contrasts between factor levels")
    summary = pd.read_csv(folder / "reports" / "goal" / "summary.csv")
    assert "m:test/err_mean" in summary

    acc = _report(folder, "goal", "--metric", "test/acc", "--goal", "max")
    assert acc.returncode == 0, acc.stderr[-3000:]
    md2 = (folder / "reports" / "goal" / "report.md").read_text("utf-8")
    assert "Best cell by test accuracy (higher is better): task.m=1" in md2
    assert "task.m=1 beats task.m=0" in _section(md2, "Contrasts between factor levels")
    effects2 = pd.read_csv(folder / "reports" / "goal" / "effects.csv")
    assert effects2.iloc[0]["estimate"] == pytest.approx(5.0, abs=0.5)  # points

    both = _report(folder, "goal", "--metric", "test/acc,test/err", "--goal", "max,min")
    assert both.returncode == 0, both.stderr[-3000:]
    md3 = (folder / "reports" / "goal" / "report.md").read_text("utf-8")
    assert "## Effects (model of the design, final test accuracy)" in md3
    assert "## Effects (model of the design, test/err)" in md3
    assert (folder / "reports" / "goal" / "effects_test_err.csv").exists()

    # declared contrasts: on the command line, or report.contrasts on the sweep's run
    declared = _report(folder, "goal", "--contrasts", "task.m: 1 vs 0")
    assert declared.returncode == 0, declared.stderr[-3000:]
    row = pd.read_csv(folder / "reports" / "goal" / "effects.csv").iloc[0]
    assert row["family"] == "confirmatory" and row["factor"] == "task.m"
    client = MlflowClient(store_uri(folder))
    exp = client.get_experiment_by_name("goal")
    (parent,) = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'sweep'")
    client.log_param(parent.info.run_id, "report.contrasts", '["task.m: 1 vs 0"]')
    again = _report(folder, "goal")
    assert again.returncode == 0, again.stderr[-3000:]
    row2 = pd.read_csv(folder / "reports" / "goal" / "effects.csv").iloc[0]
    assert row2["family"] == "confirmatory" and row2["p_holm"] == pytest.approx(row["p_holm"])
    typo = _report(folder, "goal", "--contrasts", "task.m: 2 vs 0")
    assert typo.returncode == 2 and "task.m has no level '2'; levels: 0, 1" in typo.stderr

    bad = _report(folder, "goal", "--metric", "test/f1")
    assert bad.returncode == 2
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("error: unknown metric 'test/f1'; the runs have: ")
    assert "test/acc" in line and "test/err" in line
