"""ablation: experiment-grid ablation studies over a from-scratch NumPy MLP.

The packages, in the order a sweep flows through them (docs/architecture.md has the
imports each may use and where each fact lives):

    ablation.config    the schema: typed config, value rules, what each key means, hashes
    ablation.cell      one grid cell as a value (Cell) and the task it names (MLP or yours)
    ablation.sweep     the sweep side: the grid, the Hydra callback, seeds=auto, launchers
    ablation.run       one cell's run: data -> train -> metrics -> artifacts -> tracking
    ablation.tracking  the MLflow store: schema of tags and metrics, runs, resume, retries
    ablation.report    comparison tables, statistics and figures from the store
    ablation.nn        pure-NumPy numeric core (no config / tracking imports)
    ablation.data      datasets (packaged MNIST, IDX, Kaggle CSV, sklearn digits)
"""

__version__ = "0.1.0"
