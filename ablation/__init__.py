"""ablation: experiment-grid ablation studies over a from-scratch NumPy MLP.

Layers (see DESIGN.md):
    ablation.nn        pure-NumPy numeric core (no config / tracking imports)
    ablation.data      datasets (packaged MNIST, IDX, Kaggle CSV, sklearn digits)
    ablation.config    structured config schema registered with Hydra
    ablation.experiment  one grid cell: data -> train -> metrics -> tracking
    ablation.sweep     Hydra callback around a multirun: validate, parent run, summary
    ablation.plots     the per-run figures (confusion matrix, learning curves)
    ablation.tracking  MLflow store, parent/child runs, resume by config hash
    ablation.report    comparison tables, statistics and figures from the store
"""

__version__ = "0.1.0"
