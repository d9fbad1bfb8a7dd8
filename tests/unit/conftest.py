"""The fast tier (`make test-fast`): no review archive, no DVC run, no server."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # the project's default, before Keras is first imported
