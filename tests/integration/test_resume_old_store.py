"""A store written before the table of key meanings resumes: its FINISHED runs carry the
config hashes main computed at baf4098, and the same sweep and the same single run now
train nothing."""

from __future__ import annotations

from ablation import tracking
from tests.conftest import cli, store_uri

COMMON = ["data=digits", "optim=gd", "optim.iterations=5", "optim.epochs=1"]
#: (init, reg, seed) -> config hash, as main at baf4098 computed them for COMMON
OLD_HASHES = {
    ("random", "none", 0): "c2c26b39ae42b2be",
    ("random", "none", 1): "1a3adea5360dccda",
    ("random", "wd", 0): "7116c54ba14e76c6",
    ("random", "wd", 1): "57f8aa4bfe79eabf",
    ("kaiming", "none", 0): "b199a9f81f62ad6c",
    ("kaiming", "none", 1): "a22cc8758374ece4",
    ("kaiming", "wd", 0): "0cb42e405600321f",
    ("kaiming", "wd", 1): "44cf893b116319e6",
    ("random", "l2", 1): "f333f52893a6fb76",
}


def _old_store(workdir) -> None:
    """FINISHED runs tagged as the code of baf4098 tagged them (hash, role, cell hash)."""
    uri = store_uri(workdir)
    client = tracking.client_for(uri)
    exp_id = tracking.ensure_experiment(client, uri, "ablation")
    for (init, reg, seed), key in OLD_HASHES.items():
        run_id = tracking.start_run(
            client,
            exp_id,
            name=f"{init} {reg} s{seed}",
            tags={tracking.TAG_HASH: key, tracking.TAG_ROLE: tracking.ROLE_CELL},
        )
        client.log_metric(run_id, "test/acc", 0.5)
        client.set_terminated(run_id, status="FINISHED")


def test_a_store_of_the_earlier_code_resumes_with_no_cell_retrained(workdir):
    _old_store(workdir)
    sweep = cli("-m", *COMMON, "init=random,kaiming", "reg=none,wd", "seed=0,1", cwd=workdir)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "all 8 cells already FINISHED; nothing to run" in sweep.stdout + sweep.stderr
    one = cli(*COMMON, "init=random", "reg=l2", "seed=1", cwd=workdir)
    assert one.returncode == 0, one.stderr[-3000:]
    assert "already FINISHED as run" in one.stdout + one.stderr
    client = tracking.client_for(store_uri(workdir))
    runs = client.search_runs([client.get_experiment_by_name("ablation").experiment_id])
    assert len(runs) == len(OLD_HASHES)  # nothing new: no parent run, no cell run
