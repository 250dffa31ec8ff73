"""MLflow's limits on what a sweep stores, checked before anything is created.

MLflow refuses a name or value over its limits only when it is written: after the sweep's
parent run exists (a FAILED run, a traceback, exit 1). :func:`check_limits` checks every
cell's experiment name, param names and values and the tags made of the user's input first,
and raises :class:`TrackingError` (one line, exit 2).

The limits are MLflow's own (``mlflow.utils.validation``), and, where its SQL schema is
narrower than its validation, the column's width (``mlflow.store.tracking.dbmodels``):
measured on PostgreSQL with MLflow 3.17, an experiment name of 257 to 500 characters passes
MLflow's check and is then refused by the database (``VARCHAR(256)``), a run name over 250
likewise (``VARCHAR(250)``); sqlite ignores the widths.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from mlflow.utils import validation

from ablation.tracking.uri import TrackingError

MAX_PARAM_VALUE = validation.MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE = validation.MAX_TAG_VAL_LENGTH
MAX_KEY = validation.MAX_ENTITY_KEY_LENGTH


@functools.cache
def _column_width(model: str, column: str) -> int | None:
    try:  # private MLflow API: the SQL schema every database store is created with
        from mlflow.store.tracking.dbmodels import models

        return getattr(models, model).__table__.c[column].type.length
    except (ImportError, AttributeError, KeyError):
        return None


def max_experiment_name() -> int:
    """500 by MLflow's check, 256 in its SQL schema: the smaller."""
    width = _column_width("SqlExperiment", "name")
    return min(
        validation.MAX_EXPERIMENT_NAME_LENGTH, width or validation.MAX_EXPERIMENT_NAME_LENGTH
    )


def max_run_name() -> int:
    """The width of the runs table's name column (250); run names are cut to it."""
    return _column_width("SqlRun", "name") or MAX_KEY


def _show(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[:n] + "...")


def check_experiment_name(name: str) -> None:
    limit = max_experiment_name()
    if not name.strip():
        raise TrackingError("experiment_name is empty; pass experiment_name=NAME")
    if len(name) > limit:
        raise TrackingError(
            f"experiment_name {_show(name)} is {len(name)} characters long; MLflow stores at "
            f"most {limit}: pass a shorter experiment_name"
        )


def check_params(params: Mapping[str, Any]) -> None:
    for key, value in params.items():
        if len(key) > MAX_KEY or not validation.validate_param_and_metric_name(key):
            raise TrackingError(
                f"the config key {_show(key)} cannot be an MLflow param name (at most {MAX_KEY} "
                "characters: letters, digits, _ - . / : and spaces); rename it"
            )
        text = str(value)
        if len(text) > MAX_PARAM_VALUE:
            raise TrackingError(
                f"{key}={_show(text)} is {len(text)} characters long; MLflow stores at most "
                f"{MAX_PARAM_VALUE} per param value: shorten it (e.g. pass a path to a file)"
            )


def check_tags(tags: Mapping[str, str]) -> None:
    """``tags``: what a tag made of the user's input says (the overrides, the sweep folder)."""
    for what, text in tags.items():
        if len(text) > MAX_TAG_VALUE:
            raise TrackingError(
                f"{what} is {len(text)} characters long; MLflow stores at most {MAX_TAG_VALUE} "
                f"per tag value: shorten it ({_show(text)})"
            )


def check_limits(cells: Iterable[Any], tags: Mapping[str, str] | None = None) -> None:
    """Every cell's experiment name, params and overrides within MLflow's limits, and the
    sweep's own ``tags`` (name -> text); else one ``TrackingError``."""
    names_seen: set[str] = set()
    for cell in cells:
        name = cell.config.experiment_name
        if name not in names_seen:
            check_experiment_name(name)
            names_seen.add(name)
        check_params(cell.params)
        check_tags(
            {"the cell's overrides": " ".join(cell.overrides), "the cell's label": cell.label}
        )
    check_tags(tags or {})
