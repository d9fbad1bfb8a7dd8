"""The raw-text model: reviews in, probabilities out, locally (classifier) and as an MLflow pyfunc (pyfunc)."""
