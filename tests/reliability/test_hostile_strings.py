"""Hostile strings: experiment names, tags and param values holding ``../``, HTML and
script tags, Markdown syntax, quotes, shell syntax and non-ASCII text.

They come in through the command line (the experiment name) and through the store (tags
and params another user or tool wrote). The report must escape them in HTML and
Markdown, every file or folder named after them must stay inside the output folder, and
nothing in them may ever run: no shell, no pickle.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import Metric, Param

from ablation import tracking
from ablation.config.schema import path_safe
from tests.conftest import cli
from tests.reliability.support import TEST_ENV, by_status, cell_runs, client

PWNED = "PWNED"
#: the experiment name: path traversal, markup, a Markdown link, quotes, shell, non-ASCII
NAME = (
    f'../../x<script>alert(1)</script>"q"\'s é中 $(touch {PWNED}) `touch {PWNED}` '
    "|[l](javascript:alert(1))"
)
#: tag and param values written straight into the store
TEXT = (
    f'<img src=x onerror="alert(1)"> **bold** | a | b `rm -rf ~` $(touch {PWNED}) '
    "[x](javascript:alert(2)) ${oc.env:HOME} $\\frac{1}{0}$ ünï ../../../etc/passwd"
)
LEVEL = f"<b onmouseover=alert(3)>evil</b> $x^$ 'q' ../{PWNED}"


def _override(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Pickled:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _evil_weights(path: Path, marker: Path) -> Path:
    payload = np.array([_Pickled(marker)], dtype=object)
    keys = ("format_version", "sizes", "activations", "init", "dtype", "seed", "W0", "b0")
    np.savez(path, **{k: payload for k in keys})
    return path


def _clone(c, run, tmp: Path, *, params: dict, tags: dict, metrics: dict) -> str:
    """A copy of a FINISHED run (params, final metrics, artifacts) with some values replaced."""
    new = c.create_run(
        run.info.experiment_id,
        run_name=tags.pop("mlflow.runName", "clone"),
        tags={**{k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}, **tags},
    ).info.run_id
    if tracking.TAG_CONFIG in run.data.tags:  # the typed config the report reads: same values
        config = {**json.loads(run.data.tags[tracking.TAG_CONFIG]), **params}
        c.set_tag(new, tracking.TAG_CONFIG, json.dumps(config))
    now = 0
    c.log_batch(
        new,
        params=[Param(k, v) for k, v in {**run.data.params, **params}.items()],
        metrics=[Metric(k, v, now, 0) for k, v in {**run.data.metrics, **metrics}.items()],
    )
    folder = Path(c.download_artifacts(run.info.run_id, "", str(tmp / run.info.run_id)))
    c.log_artifacts(new, str(folder))
    c.set_terminated(new, "FINISHED")
    return new


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "h4", "p",
    "ul", "li", "table", "caption", "thead", "tbody", "tr", "th", "td", "div", "figure",
    "img", "figcaption", "pre",
}  # fmt: skip


class _Markup(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def _md_table_rows_consistent(md: str) -> None:
    """Every Markdown table keeps one column count: no '|' from a value broke a row."""
    unescaped = re.compile(r"(?<!\\)\|")
    widths: list[int] = []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            widths.append(len(unescaped.findall(line)))
        elif widths:
            assert len(set(widths)) == 1, f"table with rows of {sorted(set(widths))} cells"
            widths = []


@pytest.mark.slow
def test_hostile_names_tags_and_params_stay_inert(workdir):
    cwd = workdir / "a" / "b"  # '../../x...' would land in workdir/x... if it escaped
    cwd.mkdir(parents=True)
    sweep = cli(
        "-m",
        "data=digits",
        "init=random,kaiming",
        "optim.lr=0.1,1e4",  # 1e4 diverges: two FAILED runs with a failure tag
        "optim.iterations=30",
        "optim.eval_every=5",
        f"experiment_name={_override(NAME)}",
        cwd=cwd,
        env=TEST_ENV,
    )
    assert sweep.returncode == 1, sweep.stdout[-3000:] + sweep.stderr[-3000:]

    # the name reached MLflow unchanged, and the Hydra output folders stayed below cwd
    c = client(cwd)
    assert c.get_experiment_by_name(NAME) is not None
    outside = [p for p in workdir.rglob("*") if not p.is_relative_to(cwd) and p != cwd.parent]
    assert outside == [], f"written outside the working dir: {outside}"
    assert [p.name for p in (cwd / "multirun").iterdir()] == [path_safe(NAME)]

    # another writer of the store: hostile tags on every run, and a FINISHED run whose
    # factor level, cell label, cache folder and weights are hostile
    runs = cell_runs(cwd, NAME)
    for run in by_status(runs, "FAILED"):
        c.set_tag(run.info.run_id, tracking.TAG_FAILURE, TEXT)
    for run in runs:
        c.set_tag(run.info.run_id, "ablation.git_commit", TEXT)
        c.set_tag(run.info.run_id, "mlflow.runName", TEXT)
    marker = workdir / "unpickled"
    outside_cache = workdir / "outside-cache"
    source = by_status(runs, "FINISHED")[0]
    clone = _clone(
        c,
        source,
        workdir / "dl",
        params={"init.name": LEVEL, "data.cache_dir": str(outside_cache), "data.name": "mnist"},
        tags={tracking.TAG_CELL: TEXT, tracking.TAG_HASH: "hostile", "mlflow.runName": TEXT},
        metrics={"test/acc": 0.999},  # the best cell: the report loads its weights
    )
    c.log_artifact(clone, str(_evil_weights(workdir / "weights.npz", marker)))

    report = cli(
        "--experiment",
        NAME,
        "--out",
        "reports",
        "--reference",
        "none",
        cwd=cwd,
        module="ablation.report",
        env=TEST_ENV,
    )
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]

    # every file of the report is inside reports/<sanitised name>/
    out = cwd / "reports"
    (folder,) = out.iterdir()
    assert re.fullmatch(r"[A-Za-z0-9._-]+", folder.name) and not folder.name.startswith(".")
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(folder.resolve()), path
    assert {p.name for p in folder.iterdir()} >= {"report.md", "report.html", "summary.csv"}

    # nothing ran: no shell, no unpickling, no folder named by the store
    assert not marker.exists(), "a pickle from the store was loaded"
    assert not outside_cache.exists(), "the report wrote to a folder named by the store"
    assert not [p for p in workdir.rglob("*") if p.name == PWNED]
    assert not (Path.cwd() / PWNED).exists()
    assert "skipped" in (folder / "report.md").read_text(encoding="utf-8")  # ROC: bad weights

    # Markdown: no raw markup, no live link, tables intact, the text still readable
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "<" not in md, "raw '<' in report.md"
    links = re.findall(r"(?<!\\)\]\(([^)]*)\)", md)
    assert links and all(link.startswith("figures/") for link in links), links
    _md_table_rows_consistent(md)
    assert "é中" in md and "ünï" in md and "&lt;script&gt;" in md

    # HTML: only the report's own tags, no event handlers, no links, images inline
    page = (folder / "report.html").read_text(encoding="utf-8")
    parsed = _Markup()
    parsed.feed(page)
    assert parsed.tags <= ALLOWED_TAGS, parsed.tags - ALLOWED_TAGS
    names = {name for name, _ in parsed.attrs}
    assert not {n for n in names if n.startswith("on")} and "href" not in names
    assert all(v.startswith("data:image/png;base64,") for n, v in parsed.attrs if n == "src")
    text = "".join(parsed.text)
    assert NAME in text and TEXT in text and LEVEL in text  # shown, as text
    assert "Content-Security-Policy" in page


def test_output_folder_names_are_sanitised():
    from ablation.report.builder import safe_name

    for make in (path_safe, safe_name):
        for hostile in ("..", "../..", "../../etc", "/abs/path", ".hidden", "a/../../b", "", "é"):
            name = make(hostile)
            assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name), (hostile, name)
            assert os.sep not in name and name not in (".", "..")
