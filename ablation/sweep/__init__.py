"""The sweep side: the grid of cells, the Hydra callback around a multirun, the
``seeds=auto`` rule and the launcher choice."""
