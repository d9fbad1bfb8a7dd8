"""The classifiers: the recurrent model and its layers, adversarial training, the linear baselines, scores."""
