"""The report reads confusion matrices exactly as the app writes them."""

from __future__ import annotations

import numpy as np

from ablation.report.sections.figures import read_confusion
from ablation.run.job import confusion_matrix


def test_confusion_csv_round_trip_with_and_without_label_column(tmp_path):
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    counts = confusion_matrix(y_true, y_pred, 10)
    assert counts.sum() == 500 and counts[3, 7] == np.sum((y_true == 3) & (y_pred == 7))
    header = "true\\pred," + ",".join(map(str, range(10)))
    labelled = tmp_path / "labelled.csv"
    np.savetxt(
        labelled,
        np.column_stack([np.arange(10), counts]),
        fmt="%d",
        delimiter=",",
        header=header,
        comments="",
    )
    bare = tmp_path / "bare.csv"  # the format of runs logged before the label column
    np.savetxt(bare, counts, fmt="%d", delimiter=",", header=header, comments="")
    for path in (labelled, bare):
        assert np.array_equal(read_confusion(path), counts)
    (tmp_path / "bad.csv").write_text("not,a,matrix\n1,2\n")
    assert read_confusion(tmp_path / "bad.csv") is None
