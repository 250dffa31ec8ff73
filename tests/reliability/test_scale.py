"""Big grids: expanding and validating 10,000 cells takes seconds, not minutes, shows progress,
and gives exactly the cells that composing every job with Hydra gives; a 10,000-cell sweep
stopped right after its plan line closes its parent run KILLED and leaves nothing RUNNING."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from ablation.config.compose import task_config
from ablation.config.schema import ConfigError, package_dir, register_configs
from ablation.sweep.grid import expand, expand_cells
from tests.reliability.store_checks import integrity, run_table
from tests.reliability.support import started

register_configs()


@pytest.fixture(scope="module")
def master():
    """The multirun's master config for a list of overrides, as ``python -m ablation -m``."""
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        yield lambda overrides: loader.load_configuration("config", overrides, RunMode.MULTIRUN)


@pytest.mark.slow
def test_the_fast_expansion_gives_the_cells_of_composing_every_job(master):
    # group choices (init, optim, reg, data), plain values (lr, seed, l2, a float given as
    # an int), a value an interpolation reads (depth -> model.hidden), an optimiser option
    grid = master(
        [
            "init=random,kaiming",
            "optim=gd,adam",
            "optim.lr=0.1,1",
            "seed=0,7",
            "depth=1,3",
            "reg=l2",
            "reg.l2=0.001,0.01",
            "data=digits,42k",
            "optim.beta1=0.8",
        ]
    )
    fast = expand_cells(grid)
    exact = expand_cells(grid, fast=False)
    assert len(fast) == 128
    assert fast == exact  # configs, hashes, labels, params, optimiser options, overrides
    assert len({c.config_hash for c in fast}) == 128
    assert len({c.cell_hash for c in fast}) == 64  # two seeds per cell
    assert {type(c.config.optim.lr) for c in fast} == {float}


@pytest.mark.slow
def test_the_launcher_gets_the_config_hydra_composes_for_every_job(master):
    """The auto launcher, running cells in turn, takes each job's whole config (Hydra's node
    too) from the sweep callback's builder: it must be what Hydra's loader composes."""
    grid = master(
        [
            "init=random,kaiming",
            "optim=gd,adam",
            "seed=7,0",
            "depth=1,3",  # an interpolation reads it
            "reg=l2",
            "reg.l2=0.001,0.01",
            "data=digits",
            "optim.lr=1",  # an int for a float field
            "hydra.job.chdir=false",
        ]
    )
    cells, builder = expand(grid)
    loader = GlobalHydra.instance().config_loader()
    assert len(cells) == 32
    for cell in cells:
        ours = builder.job_config(grid, cell.overrides)
        hydras = loader.load_sweep_config(grid, list(cell.overrides))
        assert ours is not None, cell.overrides
        assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydras), cell.overrides
        resolved = OmegaConf.to_yaml(task_config(ours), resolve=True)
        assert resolved == OmegaConf.to_yaml(task_config(hydras), resolve=True)
        assert OmegaConf.is_struct(ours) and OmegaConf.is_struct(hydras)
        assert OmegaConf.is_readonly(ours.hydra) == OmegaConf.is_readonly(hydras.hydra)
    assert len(builder.whole) == 4  # one composition per choice of init and optim
    assert builder.job_config(grid, ["init=random", "seed=99"]) is None  # not a job of it
    assert builder.job_config(master(["data=digits"]), cells[0].overrides) is None


def test_a_bad_value_in_a_fast_cell_names_the_cell(master):
    with pytest.raises(ConfigError) as info:
        expand_cells(master(["data=digits", "optim.lr=0.1,0.2,nan", "seed=0,1"]))
    message = str(info.value)
    assert message.startswith("optim.lr=nan is invalid; it must be a finite number > 0")
    assert message.endswith("in the cell: data=digits optim.lr=nan seed=0")
    with pytest.raises(ConfigError, match=r"seed=-1 is invalid.*\n  in the cell: .*seed=-1"):
        expand_cells(master(["data=digits", "seed=0,1,-1"]))


def test_ten_thousand_cells_expand_in_seconds_with_progress(master):
    lines = []
    tic = time.perf_counter()
    cells = expand_cells(
        master(["data=digits", "seed=range(0,10000)"]),
        progress=lambda done, total: lines.append((done, total)),
    )
    took = time.perf_counter() - tic
    assert len(cells) == 10000 and len({c.config_hash for c in cells}) == 10000
    assert [c.config.seed for c in cells] == list(range(10000))
    assert lines == [(k * 1000, 10000) for k in range(1, 11)]
    assert took < 30, f"{took:.1f}s for 10,000 cells"  # ~2 s here when the machine is idle


@pytest.mark.slow
def test_a_ten_thousand_cell_sweep_plans_fast_and_stops_clean_on_sigterm(workdir):
    with started(["-m", "data=digits", "seed=range(0,10000)"], cwd=workdir) as (proc,):
        tic = time.monotonic()
        proc.wait_until(lambda: "parent run" in proc.output, "the plan line", timeout=30)
        took = time.monotonic() - tic
        proc.popen.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    output = proc.output
    assert "checked 1000 of 10000 cells" in output
    assert output.index("checked 10000 of 10000") < output.index("10000 cells, 0 already")
    assert code == 143, output[-2000:]
    assert output.strip().splitlines()[-1] == "stopped: interrupted (SIGTERM)"
    assert "Traceback" not in output
    assert integrity(workdir) == "ok"
    runs = run_table(workdir)
    assert [v for v in runs.values() if v[0] == "sweep"] == [
        ("sweep", "KILLED", "interrupted (SIGTERM)")
    ]
    assert "RUNNING" not in {status for _, status, _ in runs.values()}, (runs, took)


COUNT_COMPOSITIONS = """
import sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl

calls = []
load = ConfigLoaderImpl.load_sweep_config
ConfigLoaderImpl.load_sweep_config = lambda self, *a, **k: calls.append(1) or load(self, *a, **k)
sys.argv = ["ablation", *sys.argv[1:]]
try:
    from ablation.__main__ import main
    main()
finally:
    print(f"compositions={len(calls)}", file=sys.stderr)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "choice, compositions",
    [
        # the callback composes once per choice of config groups (expand), and the auto
        # launcher once more per choice, after the callback added the jobs' environment
        (None, 1 + 1),
        # Hydra's basic sweeper also composes each of the 4 jobs to validate it
        ("hydra/sweeper=basic", 1 + 4 + 1),
        # Hydra's basic launcher composes each job to run it
        ("hydra/launcher=basic", 1 + 4),
    ],
    ids=["default", "basic-sweeper", "basic-launcher"],
)
def test_no_job_is_composed_again_after_the_callback_composed_it(workdir, choice, compositions):
    """The default sweeper and launcher do not compose a job the sweep callback already
    composed and checked: Hydra's basic sweeper composes each job to validate it, and its
    launchers compose each job again to run it."""
    grid = ["-m", "data=digits", "optim.iterations=2", "seed=0,1,2,3", "report=false"]
    grid += [choice] if choice else []
    done = subprocess.run(
        [sys.executable, "-c", COUNT_COMPOSITIONS, *grid],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"compositions={compositions}" in done.stderr, done.stderr[-2000:]
    assert done.stdout.count("] done data=digits") == 4, done.stdout[-2000:]
