"""One grid cell as an immutable value (:class:`~ablation.cell.cell.Cell`) and the task
it names: the built-in MLP or a user's function."""
