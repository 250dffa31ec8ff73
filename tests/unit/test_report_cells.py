"""Factors, cells and escaping: pure functions of the run table (no MLflow needed)."""

from __future__ import annotations

import pandas as pd

from ablation.data import data_label
from ablation.report.builder import safe_name
from ablation.report.cells import add_factors, level_key, summarize_cells, varying
from ablation.report.render import Document, Para, Table, md_escape, to_html, to_markdown
from ablation.tracking import config_from_params


def _run(init, reg, n_train, seed, status="FINISHED", acc=90.0, lr="0.1", failure=""):
    params = {
        "init.name": init,
        "reg.name": reg,
        "reg.l2": "0.001" if reg == "l2" else "0.0",
        "data.name": "mnist",
        "data.n_train": str(n_train),
        "model.hidden": "[200, 20]",
        "optim.lr": lr,
        "seed": str(seed),
    }
    return {
        "run_id": f"{init}-{reg}-{n_train}-{seed}-{lr}",
        "status": status,
        "seed": seed,
        "cell_label": "",
        "failure": failure,
        "params": params,
        "config": config_from_params(params),  # as fetch_runs reads a run without its JSON tag
        "config_hash": f"{init}{reg}{n_train}{seed}{lr}",
        **{m: acc for m in ("train_acc", "test_acc", "train_loss", "test_loss", "fit_s")},
    }


def test_data_label():
    """The one label function (ablation.data), as the report uses it for the data factor."""
    from ablation.report import cells

    assert cells.data_label is data_label
    assert data_label("mnist", 42000) == "42k"
    assert data_label("mnist", None) == "60k"
    assert data_label("kaggle_csv", None) == "kaggle_csv:42k"
    assert data_label("mnist", 500) == "500"
    assert data_label("digits", None) == "digits"


def test_data_factor_comes_from_the_typed_config():
    runs = pd.DataFrame([_run("random", "none", n, 0) for n in (42000, "None", 500)])
    out, _ = add_factors(runs)
    assert list(out["data"]) == ["42k", "60k", "500"]
    assert level_key("data", "digits:500") < level_key("data", "digits:1k")


def test_factors_skip_implied_params_and_add_varying_ones():
    runs = pd.DataFrame(
        [
            _run(i, r, n, 0, lr=lr)
            for i in ("random", "kaiming")
            for r in ("none", "l2")
            for n in (42000, "None")
            for lr in ("0.1", "0.5")
        ]
    )
    out, factors = add_factors(runs)
    assert factors == ["init", "reg", "data", "optim.lr"]  # reg.l2 is implied by reg
    assert sorted(out["data"].unique()) == ["42k", "60k"]


def test_keys_that_apply_to_some_runs_only_are_not_factors():
    """Older runs logged every key (optim.beta1 for gd, data.cache_dir=None); newer runs
    log what applies. A store with both has one cell per init, not two."""
    runs = [_run(i, "none", 42000, s) for i in ("random", "kaiming") for s in (0, 1)]
    for run in runs[::2]:  # the "older" runs
        run["config"] = {**run["config"], "optim.beta1": 0.9, "data.cache_dir": None}
    out, factors = add_factors(pd.DataFrame(runs))
    assert factors == ["init", "reg", "data"]
    assert "optim.beta1" not in out and "data.cache_dir" not in out
    # ... while a key whose values differ among the runs that have it is a factor
    for run, beta1 in zip(runs, (0.9, 0.99, 0.9, 0.99), strict=True):
        run["config"] = {**run["config"], "optim.beta1": beta1}
    _, factors = add_factors(pd.DataFrame(runs))
    assert factors == ["init", "reg", "data", "optim.beta1"]


def test_cells_show_missing_failed_and_partial():
    rows = [_run("random", "none", 42000, s, acc=80 + s) for s in range(3)]
    rows += [_run("random", "l2", 42000, 0, status="FAILED", failure="nan loss")]
    rows += [_run("kaiming", "none", 42000, s) for s in range(2)]
    rows += [_run("kaiming", "none", 42000, 2, status="FAILED", failure="")]
    runs, factors = add_factors(pd.DataFrame(rows))
    vary = varying(runs, factors)
    assert vary == ["init", "reg"]
    cells = summarize_cells(runs, vary).set_index("cell")
    assert cells.loc["init=random reg=none", "status"] == "ok"
    assert cells.loc["init=random reg=none", "test_acc_mean"] == 81
    assert cells.loc["init=random reg=l2", "status_text"] == "FAILED (nan loss)"
    assert cells.loc["init=kaiming reg=l2", "status"] == "missing"
    assert cells.loc["init=kaiming reg=none", "status_text"] == "1 of 3 FAILED (no reason logged)"
    assert cells.loc["init=kaiming reg=none", "n_seeds"] == 2
    assert list(cells.index[:2]) == ["init=random reg=none", "init=random reg=l2"]  # baseline first


def test_safe_name_keeps_names_inside_out_dir():
    assert safe_name("paper_table3") == "paper_table3"
    assert safe_name('../<script>alert(1)</script>é"') == "__script_alert_1___script___"
    assert safe_name("..") == "experiment"
    assert "/" not in safe_name("a/../../b") and not safe_name("...x").startswith(".")


def test_hostile_text_is_escaped_in_markdown_and_html():
    evil = '<img src=x onerror=alert(1)> | *x* `y` [z](http://e) & é"'
    doc = Document(title=evil)
    doc.add(Para(evil), Table(pd.DataFrame({"cell": [evil], "v": ["1"]})))
    md = to_markdown(doc)
    assert "<img" not in md and "&lt;img" in md
    table_line = next(ln for ln in md.splitlines() if ln.startswith("| &lt;img"))
    assert table_line.count(" | ") == 1  # the '|' inside the value does not add a column
    assert md_escape("a|b") == "a\\|b"
    page = to_html(doc)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Content-Security-Policy" in page
