"""Protocol: the data and the training settings (or a user task's own settings)."""

from __future__ import annotations

from ablation.config.keys import PROTOCOL_ROWS
from ablation.data.loading import DATASETS
from ablation.report.cells import sorted_levels
from ablation.report.render import Bullets, Document, Heading, Para
from ablation.report.sections.common import Context, settings_table


def _source_summary(name: str) -> str:
    spec = DATASETS.get(name)
    return spec.summary if spec is not None and spec.summary else "see the run params"


def _task_protocol(doc: Document, ctx: Context) -> None:
    """A user's task: what trained the cells and its settings held fixed."""
    doc.add(Heading("Protocol"))
    doc.add(Bullets([f"Task: {ctx.task} (a task of the user's own, task._target_)."]))
    keys = sorted({k for p in ctx.fin["params"] for k in p if k.startswith("task.")})
    keys = [k for k in keys if k != "task._target_" and k not in ctx.vary]
    settings_table(
        doc, ctx, keys, "The task's settings that are not factors, read from the run params."
    )


def section(doc: Document, ctx: Context) -> None:
    if ctx.task:
        _task_protocol(doc, ctx)
        return
    doc.add(Heading("Protocol"))
    names = sorted(set(ctx.runs["params"].map(lambda p: p.get("data.name", "?"))))
    items = [f"Data '{n}': {_source_summary(n)}." for n in names]
    if "data" in ctx.runs:
        sizes = sorted_levels("data", ctx.runs["data"].unique())
        items.append(f"Training-set sizes (factor data): {', '.join(sizes)}.")
    doc.add(Bullets(items))
    settings_table(doc, ctx, PROTOCOL_ROWS, "Training settings read from the run params.")
    if ctx.ref and ctx.ref.protocol:
        p = ctx.ref.protocol
        doc.add(
            Para(
                f"How this differs from the paper: {_data_difference(names)} "
                f"{p.get('notes', '')} Our learning rate and iterations (above) are "
                f"therefore our choice. Paper architecture: {p.get('architecture', '?')}; "
                f"optimiser: {p.get('optimiser', '?')}.",
                "note",
            )
        )


def _data_difference(names: list[str]) -> str:
    paper = (
        "the paper's 42k rows use Kaggle's 'Digit Recognizer' train.csv (42,000 digits) "
        "with the authors' own train/test split, and its 60k rows the MNIST training set;"
    )
    if set(names) <= {"mnist", "mnist_idx"}:
        ours = (
            "our 42k is a nested, stratified subset of the MNIST training set, and every "
            "cell is tested on the official 10,000-digit MNIST test set, so our test numbers "
            "are not measured on the paper's test images."
        )
    elif "kaggle_csv" in names:
        ours = (
            "where we also read Kaggle's train.csv, the train/test split is ours (seeded, "
            "stratified), not the authors', so test numbers are on different images."
        )
    else:
        ours = f"our data ({', '.join(names)}) is not the paper's, so numbers are not comparable."
    return f"{paper} {ours}"
