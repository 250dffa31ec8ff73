"""One cell's run: load data, train, evaluate, write artifacts, log to the store; and the
process-level pieces around it (stop signals, progress estimates)."""
