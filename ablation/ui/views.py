"""What the links of ``python -m ablation.ui`` open: each experiment's training view with a
saved runs-table view (seeds grouped by cell), and the newest sweep run (the dashboard).

The saved view is MLflow's "shared view": a JSON experiment tag
``mlflow.sharedViewState.<key>`` that ``?viewStateShareKey=<key>`` loads. MLflow 3.17 keeps
there the runs table's sort and columns and its ``groupBy``:
``{"aggregateFunction": "average", "groupByKeys": [{"mode": "param", "groupByData": KEY}]}``;
a group is one combination of the keys' values, shown as one row (the mean of each metric)
with its runs inside, and charts draw a group as its mean with a min-max band
(``useGroupedValuesInCharts``).
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter

from ablation import tracking
from ablation.config.keys import FACTOR_KEYS_IN_ORDER, SEEDING_KEYS

#: The experiment tag MLflow's "Share view" button writes; ``?viewStateShareKey=`` loads it.
SHARED_VIEW_TAG = "mlflow.sharedViewState.ablation"
#: MLflow 3.x shows the GenAI overview unless the URL (or the browser) asks for this.
TRAINING_VIEW = "workflowType=machine_learning"
METRIC_COLUMNS = ("test/acc", "train/acc", "test/loss")
MAX_PARAM_COLUMNS = 8
#: The runs the saved view lists: the cells (not the sweeps' parent runs).
CELLS_ONLY = f"tags.`{tracking.TAG_ROLE}` = '{tracking.ROLE_CELL}'"
#: Params that tell the seeds of one cell apart: never a grouping key.
SEED_PARAMS = SEEDING_KEYS


def _param_order(key: str) -> tuple[int, str]:
    """Grid factors first (``init.name``, ``reg.name``, ``data.*``), then the rest."""
    first = FACTOR_KEYS_IN_ORDER
    return next((i for i, p in enumerate(first) if key == p), len(first)), key


def judged_by(runs: list) -> tuple[str, str]:
    """(metric, goal) the experiment's cell runs are judged by (tags ``ablation.metric``,
    ``ablation.goal``; the most common; test/acc, max before those tags existed)."""
    pairs = Counter(
        (
            r.data.tags.get(tracking.TAG_METRIC, "test/acc"),
            r.data.tags.get(tracking.TAG_GOAL, "max"),
        )
        for r in runs
    )
    return pairs.most_common(1)[0][0] if pairs else ("test/acc", "max")


def view_state(runs: list) -> dict:
    """A runs-table view: one row per cell (its seeds grouped, mean of each metric, the
    charts' min-max band), best cell first by the task's metric and goal, the params that
    vary and the metrics as columns. Only cell runs are listed (a search filter the user
    can clear): a sweep's run has its own link, and its summary metrics would fill the
    charts with one bar each."""
    values: dict[str, set[str]] = {}
    for run in runs:
        for key, value in run.data.params.items():
            values.setdefault(key, set()).add(value)
    varying = [k for k, v in values.items() if len(v) > 1]
    if not varying:  # one cell: show what it is
        varying = [k for k in FACTOR_KEYS_IN_ORDER if k in values and k not in SEEDING_KEYS][:3]
    varying = sorted(varying, key=_param_order)[:MAX_PARAM_COLUMNS]
    metric, goal = judged_by(runs)
    logged = {m for run in runs for m in run.data.metrics}
    columns = [f"params.`{k}`" for k in varying]
    columns += [f"metrics.`{m}`" for m in dict.fromkeys([metric, *METRIC_COLUMNS]) if m in logged]
    cell_keys = [k for k in varying if k not in SEED_PARAMS]
    if cell_keys:
        group = [{"mode": "param", "groupByData": k} for k in cell_keys]
    else:  # every run is a seed of one cell: the cell's label groups them
        group = [{"mode": "tag", "groupByData": tracking.TAG_CELL}]
    return {
        # sorting by anything but the start time lists child runs flat, not under the sweep
        "orderByKey": f"metrics.`{metric}`",
        "orderByAsc": goal == "min",
        "selectedColumns": columns,
        "groupBy": {"aggregateFunction": "average", "groupByKeys": group},
        "useGroupedValuesInCharts": True,
        "searchFilter": CELLS_ONLY,
        "hideEmptyCharts": True,
    }


def experiment_links(uri: str, base: str) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """(experiment name, training-view URL) for each experiment with runs in the store, and
    (name, URL) of the newest sweep run in any of them (None: no sweep yet).

    Experiments holding cell runs get a shared view (one experiment tag, written only
    when it changed) so the link opens grouped by cell; else the link sorts only.
    """
    reader = tracking.open_reader(uri)
    links, newest = [], None
    for exp in tracking.retry(reader.search_experiments):
        cells = tracking.search(reader, exp.experiment_id, f"tags.`{tracking.TAG_ROLE}` = 'cell'")
        sweeps = tracking.search(reader, exp.experiment_id, f"tags.`{tracking.TAG_ROLE}` = 'sweep'")
        if (
            not cells
            and not sweeps
            and not tracking.retry(reader.search_runs, [exp.experiment_id], max_results=1)
        ):
            continue
        url = f"{base}/#/experiments/{exp.experiment_id}/runs?{TRAINING_VIEW}"
        state = view_state(cells) if cells else None
        if state is not None and _share(uri, exp, state):
            url += "&viewStateShareKey=" + SHARED_VIEW_TAG.rsplit(".", 1)[1]
        else:
            metric, goal = judged_by(cells)
            url += "&orderByKey=" + urllib.parse.quote(f"metrics.`{metric}`")
            url += f"&orderByAsc={'true' if goal == 'min' else 'false'}"
        links.append((exp.name, url))
        for run in sweeps:
            if newest is None or (run.info.start_time or 0) > (newest[0].info.start_time or 0):
                newest = (run, exp)
    if newest is None:
        return links, None
    run, exp = newest
    where = f"{base}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}?{TRAINING_VIEW}"
    return links, (f"{run.info.run_name} ({exp.name})", where)


def _share(uri: str, exp, state: dict) -> bool:
    value = json.dumps(state, sort_keys=True)
    if exp.tags.get(SHARED_VIEW_TAG) == value:
        return True
    try:
        client = tracking.client_for(uri)
        tracking.retry(client.set_experiment_tag, exp.experiment_id, SHARED_VIEW_TAG, value)
    except Exception as err:  # a read-only store: links still work, without the columns
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"note: cannot save the runs-table view ({first}); columns stay MLflow's", flush=True)
        return False
    return True
