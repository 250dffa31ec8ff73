"""Training one cell, by concern: its data, its model and optimiser, the fit with a
progress bar, and the artifacts. :func:`train` ties them together for ``run_cell``."""

from __future__ import annotations

import time

from ablation import tracking
from ablation.cell.cell import Cell
from ablation.data import Dataset, load
from ablation.nn import MLP, FitOptions, Optimizer, fit, make_optimizer
from ablation.run import artifacts, plots
from ablation.tracking.schema import METRIC_FIT_S, TAG_DATA_SOURCE


def load_data(cell: Cell) -> Dataset:
    data = cell.config.data
    return load(
        data.name,
        n_train=data.n_train,
        seed=cell.config.subset_seed,  # data_seed, else seed
        n_val=data.n_val,
        path=data.path,
        cache_dir=data.cache_dir,
    )


def build_model(cell: Cell, data: Dataset, threads: int) -> tuple[MLP, Optimizer]:
    """The network and its optimiser, with the optimiser's declared options from the cell."""
    cfg = cell.config
    net = MLP(
        [data.n_features, *cfg.model.hidden, data.n_classes],
        list(cfg.model.activations),
        init=cfg.init.name,
        seed=cfg.seed,
        dtype=cfg.dtype,
        threads=threads,
    )
    return net, make_optimizer(cfg.optim.name, cfg.optim.lr, **cell.optimizer_options)


def fit_options(cell: Cell) -> FitOptions:
    optim = cell.config.optim
    return FitOptions(
        iterations=optim.iterations if cell.full_batch else None,
        epochs=None if cell.full_batch else optim.epochs,
        batch_size=None if cell.full_batch else optim.batch_size,
        l2=cell.config.reg.l2,
        weight_decay=cell.config.reg.wd,
        eval_every=optim.eval_every,
        seed=cell.config.seed,
        max_loss=optim.max_loss,
    )


def fit_with_progress(
    cell: Cell, net: MLP, optimizer: Optimizer, data: Dataset, buffer, *, progress: bool
) -> tuple[dict[str, float], plots.Curves]:
    """Fit; every evaluation point goes to ``buffer`` and to the curves returned with the
    last point (``_step`` too): the learning-curve figure draws them without reading the
    store back."""
    bar = _progress_bar(cell, len(data.y_train)) if progress else None
    last: dict = {}
    curves: plots.Curves = {}

    def on_eval(step: int, metrics: dict[str, float]) -> None:
        buffer.add(step, metrics)
        last.update(metrics, _step=step)
        for name, value in metrics.items():
            curves.setdefault(name, []).append((step, float(value)))
        if bar is not None:
            bar.set_postfix_str(
                f"loss {metrics['train/loss']:.4f} train {metrics['train/acc']:.2%}"
                + (f" test {metrics['test/acc']:.2%}" if "test/acc" in metrics else "")
            )

    has_val = len(data.y_val) > 0
    try:
        fit(
            net,
            optimizer,
            data.X_train,
            data.y_train,
            fit_options(cell),
            X_test=data.X_test,
            y_test=data.y_test,
            X_val=data.X_val if has_val else None,
            y_val=data.y_val if has_val else None,
            callback=on_eval,
            progress=(lambda step, total, _m: bar.update(1)) if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
        buffer.flush()
    return last, curves


def train(cell: Cell, client, run_id: str, *, progress: bool, threads: int = 1) -> dict:
    """Data -> model -> fit -> artifacts, for one claimed run; returns the final metrics."""
    data = load_data(cell)
    tracking.set_tags(
        client,
        run_id,
        {tracking.TAG_DATA_CHECKSUM: data.checksum, TAG_DATA_SOURCE: data.source},
    )
    net, optimizer = build_model(cell, data, threads)
    buffer = tracking.MetricBuffer(client, run_id)
    tic = time.perf_counter()
    last, curves = fit_with_progress(cell, net, optimizer, data, buffer, progress=progress)
    fit_s = time.perf_counter() - tic
    confusion = artifacts.test_confusion(net, data)
    extra = {METRIC_FIT_S: fit_s, **artifacts.per_class_metrics(confusion)}
    buffer.add(last["_step"], extra)
    buffer.flush()
    artifacts.log_artifacts(cell, net, data, confusion, curves, client, run_id)
    return {**last, **extra}


def _progress_bar(cell: Cell, n_train: int):
    from tqdm.auto import tqdm

    optim = cell.config.optim
    if cell.full_batch:
        total, unit = optim.iterations, "it"
    else:
        total = optim.epochs * -(-n_train // optim.batch_size)
        unit = "batch"
    return tqdm(total=total, unit=unit, desc=cell.label, leave=True, dynamic_ncols=True)
