"""One grid cell: config -> data -> train -> metrics and artifacts in MLflow.

:func:`run_cell` is what every Hydra job calls; it can also be called directly with a
composed config (tests, notebooks). It never trains a cell twice: a cell whose config
hash already has a FINISHED run is skipped, and a cell another process is training is
left to it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_info, threadpool_limits

from ablation import plots, tracking
from ablation.config import (
    Config,
    cell_hash,
    cell_label,
    config_hash,
    flatten,
    task_config,
    to_config,
)
from ablation.data import load
from ablation.nn import MLP, DivergedError, fit, make_optimizer
from ablation.tracking import (
    TAG_CELL,
    TAG_CELL_HASH,
    TAG_FAILURE,
    TAG_OVERRIDES,
    TAG_PARENT,
    TAG_ROLE,
)

log = logging.getLogger("ablation")


@dataclass
class CellResult:
    status: str  # FINISHED | FAILED | KILLED | SKIPPED
    run_id: str | None
    label: str
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def run_cell(
    cfg: DictConfig,
    *,
    overrides: list[str] | None = None,
    parent_run_id: str | None = None,
    progress: bool = True,
    raise_on_failure: bool = True,
    blas_threads: int | None = None,
) -> CellResult:
    """Train one cell into the store unless it is already done (``cfg.rerun`` forces it)."""
    t_start = time.perf_counter()
    spec = to_config(cfg)
    plain = task_config(cfg)
    key, cell_key = config_hash(plain), cell_hash(plain)
    cell = cell_label(spec)
    label = f"{cell} seed={spec.seed}"
    overrides_str = " ".join(overrides or []) or label
    # what the user typed names the cell best (minus where results go)
    typed = [o for o in overrides or [] if not o.startswith(("tracking.", "experiment_name="))]
    shown = " ".join(typed) if typed else label

    uri = tracking.resolve_uri(spec.tracking.uri)
    sweep_host = os.environ.get(tracking.SWEEP_HOST_ENV)
    if tracking.sqlite_path(uri) and sweep_host and sweep_host != tracking.HOST:
        raise tracking.TrackingError(
            f"this cell runs on {tracking.HOST}, but the sweep's store is an sqlite file on "
            f"{sweep_host} ({uri}); start an MLflow server (README, Scaling out) and pass "
            "tracking.uri=http://HOST:5000"
        )
    client = tracking.client_for(uri)
    exp_id = tracking.ensure_experiment(client, uri, spec.experiment_name)
    tracking.reap_stale(client, exp_id)  # runs of killed processes, this cell's or not
    if not spec.rerun:
        done = tracking.runs_with_hash(client, exp_id, key, "FINISHED")
        if done:
            log.info(f"skip {shown}: already FINISHED as run {done[0].info.run_id}")
            return CellResult("SKIPPED", done[0].info.run_id, label, dict(done[0].data.metrics))

    tags = {
        TAG_ROLE: "cell",
        TAG_CELL_HASH: cell_key,
        TAG_CELL: cell,
        TAG_OVERRIDES: overrides_str,
        "ablation.git_commit": tracking.git_commit(),
    }
    if parent_run_id:
        tags[TAG_PARENT] = parent_run_id
    if spec.rerun:
        run_id = tracking.start_run(
            client, exp_id, name=label, tags={tracking.TAG_HASH: key, **tags}
        )
    else:
        run_id, owner = tracking.claim_cell(client, exp_id, key, name=label, tags=tags)
        if run_id is None:
            log.info(f"skip {shown}: run {owner.info.run_id} has it ({owner.info.status})")
            return CellResult("SKIPPED", owner.info.run_id, label)
    tracking.log_params(
        client, run_id, {k: v for k, v in flatten(plain).items() if not k.startswith("tracking.")}
    )

    try:
        threads, blas = _threads(spec, blas_threads)
        tracking.set_tags(
            client, run_id, {"ablation.threads": threads, "ablation.blas_threads": blas or "all"}
        )
        with threadpool_limits(limits=blas):
            metrics = _train(spec, client, run_id, progress=progress, threads=threads)
        metrics["time/total_s"] = time.perf_counter() - t_start
        buffer = tracking.MetricBuffer(client, run_id)
        buffer.add(metrics["_step"], {"time/total_s": metrics["time/total_s"]})
        buffer.flush()
        tracking.retry(client.set_terminated, run_id, status="FINISHED")
    except KeyboardInterrupt:
        tracking.set_tags(client, run_id, {TAG_FAILURE: "interrupted (Ctrl-C)"})
        tracking.retry(client.set_terminated, run_id, status="KILLED")
        raise
    except Exception as err:
        reason = _reason(err)
        tracking.set_tags(client, run_id, {TAG_FAILURE: reason})
        tracking.retry(client.log_text, run_id, traceback.format_exc(), "error.txt")
        tracking.retry(client.set_terminated, run_id, status="FAILED")
        log.error(f"FAILED {shown}: {reason}  (run {run_id})")
        if raise_on_failure:
            raise
        return CellResult("FAILED", run_id, label, reason=reason)

    _report_done(client, exp_id, shown, metrics, parent_run_id)
    return CellResult("FINISHED", run_id, label, metrics)


def _reason(err: BaseException) -> str:
    if isinstance(err, DivergedError):
        return f"diverged: {err}"
    return f"{type(err).__name__}: {err}".splitlines()[0][:500]


def _threads(spec: Config, blas_threads: int | None) -> tuple[int, int | None]:
    """``(MLP threads, BLAS limit)`` for a cell that may use ``blas_threads`` cores.

    A full-batch cell runs its row blocks on one Python thread per core, each
    with one BLAS thread: the elementwise work then uses every core too (~10%
    faster per step than one thread driving a 2-thread BLAS). Since every
    full-batch cell runs with one BLAS thread per Python thread, in turn or side
    by side, its numbers do not depend on the launcher (``MLP`` sums blocks in
    fixed groups). Minibatch cells (one block per step) are faster with the BLAS
    threads.
    """
    cores = blas_threads or max(
        (info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"),
        default=1,
    )
    if spec.optim.name == "gd" and cores > 1:
        return cores, 1
    return 1, blas_threads


def _train(
    spec: Config, client, run_id: str, *, progress: bool, threads: int = 1
) -> dict[str, float]:
    data = load(
        spec.data.name,
        n_train=spec.data.n_train,
        seed=spec.seed,
        n_val=spec.data.n_val,
        path=spec.data.path,
        cache_dir=spec.data.cache_dir,
    )
    tracking.set_tags(
        client,
        run_id,
        {
            "ablation.data_checksum": data.checksum,
            "ablation.data_source": data.source,
        },
    )
    sizes = [data.n_features, *spec.model.hidden, data.n_classes]
    net = MLP(
        sizes,
        list(spec.model.activations),
        init=spec.init.name,
        seed=spec.seed,
        dtype=spec.dtype,
        threads=threads,
    )
    opt_kwargs = {
        "momentum": {"momentum": spec.optim.momentum},
        "adam": {"beta1": spec.optim.beta1, "beta2": spec.optim.beta2},
    }
    optimizer = make_optimizer(
        spec.optim.name, spec.optim.lr, **opt_kwargs.get(spec.optim.name, {})
    )
    buffer = tracking.MetricBuffer(client, run_id)
    bar = _progress_bar(spec, len(data.y_train)) if progress else None
    last: dict = {}

    def on_eval(step: int, metrics: dict[str, float]) -> None:
        buffer.add(step, metrics)
        last.update(metrics, _step=step)
        if bar is not None:
            bar.set_postfix_str(
                f"loss {metrics['train/loss']:.4f} train {metrics['train/acc']:.2%}"
                + (f" test {metrics['test/acc']:.2%}" if "test/acc" in metrics else "")
            )

    tic = time.perf_counter()
    try:
        fit(
            net,
            optimizer,
            data.X_train,
            data.y_train,
            iterations=spec.optim.iterations if spec.optim.name == "gd" else None,
            epochs=None if spec.optim.name == "gd" else spec.optim.epochs,
            batch_size=None if spec.optim.name == "gd" else spec.optim.batch_size,
            l2=spec.reg.l2,
            X_test=data.X_test,
            y_test=data.y_test,
            X_val=data.X_val if len(data.y_val) else None,
            y_val=data.y_val if len(data.y_val) else None,
            eval_every=spec.optim.eval_every,
            callback=on_eval,
            seed=spec.seed,
            max_loss=spec.optim.max_loss,
            progress=(lambda step, total, _m: bar.update(1)) if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
        buffer.flush()
    fit_s = time.perf_counter() - tic

    predicted = net.predict(data.X_test)
    confusion = confusion_matrix(data.y_test, predicted, data.n_classes)
    extra = {"time/fit_s": fit_s, **per_class_metrics(confusion)}
    buffer.add(last["_step"], extra)
    buffer.flush()
    with tempfile.TemporaryDirectory(prefix="ablation-") as tmp:
        out = Path(tmp)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(spec)))
        net.save(out / "weights.npz")
        labelled = np.column_stack([np.arange(data.n_classes), confusion])
        header = "true\\pred," + ",".join(str(k) for k in range(data.n_classes))
        np.savetxt(
            out / "confusion_matrix.csv",
            labelled,
            fmt="%d",
            delimiter=",",
            header=header,
            comments="",
        )
        plots.confusion_png(confusion, out / "confusion_matrix.png", title=cell_label(spec))
        plots.learning_curve_png(client, run_id, out / "learning_curve.png", title=cell_label(spec))
        tracking.retry(client.log_artifacts, run_id, str(out))
    return {**last, **extra}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(
        n_classes, n_classes
    )


def per_class_metrics(confusion: np.ndarray) -> dict[str, float]:
    """``test/recall_k`` and ``test/precision_k`` for every class k (0 when undefined)."""
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    metrics = {f"test/recall_{k}": float(r) for k, r in enumerate(recall)}
    metrics.update({f"test/precision_{k}": float(p) for k, p in enumerate(precision)})
    return metrics


def _progress_bar(spec: Config, n_train: int):
    from tqdm.auto import tqdm

    if spec.optim.name == "gd":
        total, unit = spec.optim.iterations, "it"
    else:
        total = spec.optim.epochs * -(-n_train // spec.optim.batch_size)
        unit = "batch"
    return tqdm(total=total, unit=unit, desc=cell_label(spec), leave=True, dynamic_ncols=True)


def _report_done(client, exp_id: str, label: str, metrics: dict, parent_run_id: str | None):
    """One line per finished cell, with the sweep's progress and time left."""
    text = (
        f"done {label}: test/acc {metrics.get('test/acc', float('nan')):.2%}  "
        f"train/acc {metrics.get('train/acc', float('nan')):.2%}  "
        f"({metrics.get('time/total_s', 0):.1f}s)"
    )
    todo = int(os.environ.get(tracking.SWEEP_TODO_ENV, "0") or 0)
    t0 = float(os.environ.get(tracking.SWEEP_T0_ENV, "0") or 0)
    if parent_run_id and todo and t0:
        from ablation.sweep import format_duration

        children = tracking.search(client, exp_id, f"tags.`{TAG_PARENT}` = '{parent_run_id}'")
        ended = sum(r.info.status in ("FINISHED", "FAILED", "KILLED") for r in children)
        elapsed = time.time() - t0
        left = elapsed / max(ended, 1) * max(todo - ended, 0)
        text = f"[{ended}/{todo}] {text}  ~{format_duration(left)} left"
    log.info(text)
