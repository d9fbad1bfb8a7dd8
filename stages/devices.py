"""Where training runs: the Keras backend, logical CPU devices, and data-parallel distribution
(tf.distribute on TensorFlow, keras.distribution on JAX)."""

from __future__ import annotations

import contextlib
import os

from stages.common import PipelineError, TrainParams, quiet_incidental_tensorflow

CPU_DEVICES_ENV = "TRAIN_CPU_DEVICES"
# What each backend's multi-worker setup reads on every host.
CLUSTER_ENV = {
    "tensorflow": ("TF_CONFIG",),
    "jax": ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID"),
}


def use_backend(name: str, seed: int) -> None:
    """Select the Keras backend (before Keras is first imported) and make training repeatable."""
    os.environ["KERAS_BACKEND"] = name
    if name != "tensorflow":
        quiet_incidental_tensorflow()
    import keras

    if keras.backend.backend() != name:
        raise PipelineError(f"train.backend: Keras was already loaded with {keras.backend.backend()!r}")
    if name == "tensorflow":
        import tensorflow as tf

        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
    else:
        seed_without_tensorflow(seed)


def seed_without_tensorflow(seed: int) -> None:
    """What keras.utils.set_random_seed does, less seeding TensorFlow: that would import it (seconds,
    and its C++ start-up lines) only to seed tf.data, which Keras on JAX does not use for arrays."""
    import random

    import numpy as np
    from keras.src.backend.common import global_state
    from keras.src.utils import rng_utils

    random.seed(seed)
    np.random.seed(seed)
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(rng_utils.seed_generator.GLOBAL_SEED_GENERATOR, None)


def prepare_devices(params: TrainParams) -> None:
    """Before the backend starts (use_backend): refuse `multi_worker` without its cluster settings,
    and split the CPU into TRAIN_CPU_DEVICES=N logical devices, to try `mirrored` without GPUs
    (this can only be done before the backend starts)."""
    missing = [name for name in CLUSTER_ENV[params.backend] if name not in os.environ]
    if params.distribute == "multi_worker" and missing:
        raise PipelineError(f"train.distribute: multi_worker on {params.backend} needs {', '.join(missing)} set on every host")
    count = os.environ.get(CPU_DEVICES_ENV)
    if not count:
        return
    if not count.isdigit() or int(count) < 1:
        raise PipelineError(f"{CPU_DEVICES_ENV}: expected a number of devices >= 1 (got {count!r})")
    if params.backend == "jax":
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}".strip()
        # XLA's CPU client has one thread per core; each device waiting in the RNN's per-step
        # gradient all-reduce holds one, so with as many devices as cores training deadlocks
        # (seen on 2 cores). Spare threads avoid it.
        os.environ.setdefault("PJRT_NPROC", str(max(os.cpu_count() or 1, 4 * int(count))))
    else:
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(count))


def distribution(params: TrainParams) -> tuple[contextlib.AbstractContextManager, int]:
    """(scope to build and train the model in, number of replicas): `none` one device; `mirrored` a
    replica on every local GPU (else every CPU device) with gradients averaged; `multi_worker` the
    same across hosts. Each backend's own engine: tf.distribute on TensorFlow, keras.distribution
    (DataParallel, jax.distributed across hosts) on JAX."""
    if params.distribute == "none":
        return contextlib.nullcontext(), 1
    if params.backend == "tensorflow":
        import tensorflow as tf

        if params.distribute == "multi_worker":
            strategy = tf.distribute.MultiWorkerMirroredStrategy()  # the cluster from TF_CONFIG
        else:
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
        return strategy.scope(), _replicas(params, strategy.num_replicas_in_sync)
    import keras

    if params.distribute == "multi_worker":
        keras.distribution.initialize()  # jax.distributed, from the KERAS_DISTRIBUTION_* variables
    devices = keras.distribution.list_devices()
    # For the whole process: building the model places its variables, fit() shards each batch.
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return contextlib.nullcontext(), _replicas(params, len(devices))


def _replicas(params: TrainParams, count: int) -> int:
    if params.batch_size % count:
        raise PipelineError(f"train.batch_size: {params.batch_size} does not split evenly over {count} replicas")
    return count
