"""The schema: the typed config registered with Hydra, its value rules, what each key
means and how a config is hashed. Imports no MLflow."""
