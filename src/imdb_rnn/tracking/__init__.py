"""MLflow: the experiment and its runs, lineage tags from dvc.lock, the model registry, logged plots."""
