"""The commands raise the garbage collector's first threshold; importing ablation does not."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from ablation.startup import GC_THRESHOLD, tune_gc

_THRESHOLD_AFTER = """
import gc, sys
from {module} import main
sys.argv = ["prog", *{args!r}]
try:
    main()
except SystemExit:
    pass
print(gc.get_threshold()[0])
"""


def test_tune_gc_raises_only_the_first_threshold_and_keeps_a_switched_off_collector():
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 11, 12)
        tune_gc()
        assert gc.get_threshold() == (GC_THRESHOLD, 11, 12)
        gc.set_threshold(20_000, 10, 10)
        tune_gc()  # never lowered
        assert gc.get_threshold() == (20_000, 10, 10)
        gc.set_threshold(0)
        tune_gc()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


def test_importing_the_package_leaves_the_collector_as_python_set_it():
    code = (
        "import gc; t = gc.get_threshold(); import ablation.__main__, ablation.report.__main__, "
        "ablation.ui.cli, ablation.data.__main__, ablation.tracking; print(gc.get_threshold() == t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize(
    "module, args",
    [
        ("ablation.__main__", ["--help"]),
        ("ablation.report.__main__", ["--help"]),
        ("ablation.ui.cli", ["--help"]),
        ("ablation.data.__main__", ["--help"]),
    ],
)
def test_every_command_raises_it_first(module, args):
    code = _THRESHOLD_AFTER.format(module=module, args=args)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[-1]) == GC_THRESHOLD
