"""What ``python -m ablation`` adds to its arguments before Hydra sees them."""

from ablation.__main__ import resolve_shown_config


def test_config_shown_resolved_for_help_and_job_config():
    for args in (["--help"], ["-h"], ["--cfg", "job"], ["-c", "job"], ["--cfg", "all"]):
        assert resolve_shown_config(["ablation", *args]) == ["ablation", *args, "--resolve"]


def test_hydra_node_and_runs_left_alone():
    # the hydra node alone cannot be resolved (it refers to ${experiment_name})
    for args in (["--cfg", "hydra"], ["-c", "hydra"], ["--cfg=hydra"], ["init=random"], []):
        assert resolve_shown_config(["ablation", *args]) == ["ablation", *args]
    already = ["ablation", "--cfg", "job", "--resolve"]
    assert resolve_shown_config(already) == already
