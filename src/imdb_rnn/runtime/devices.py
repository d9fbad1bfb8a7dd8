"""Where training runs: the Keras backend, logical CPU devices, and data-parallel distribution
(tf.distribute on TensorFlow, keras.distribution on JAX)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from dataclasses import dataclass

from imdb_rnn.runtime import keras_patches
from imdb_rnn.runtime.errors import PipelineError, choose_backend
from imdb_rnn.runtime.params import TrainParams

CPU_DEVICES_ENV = "TRAIN_CPU_DEVICES"
# What each backend's multi-worker setup reads on every host.
CLUSTER_ENV = {
    "tensorflow": ("TF_CONFIG",),
    "jax": ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID"),
}
# A multi-worker collective that waits longer than this (a peer alive but stuck) fails. A peer that
# dies is noticed sooner: TensorFlow's coordination service misses its heartbeats (about 10 s).
COLLECTIVE_TIMEOUT_S = 300


def use_backend(name: str, seed: int) -> None:
    """Select the Keras backend (before Keras is first imported) and make training repeatable."""
    choose_backend(name, "train.backend")  # refuses a process already running Keras on another backend
    import keras

    if name != "tensorflow":
        keras_patches.tensorflow_only_if_loaded()
    keras.utils.set_random_seed(seed)
    if name == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def prepare_devices(params: TrainParams) -> None:
    """Before the backend starts (use_backend), the only time it can be done: split the CPU into
    TRAIN_CPU_DEVICES=N logical devices, to try `mirrored` without GPUs."""
    count = os.environ.get(CPU_DEVICES_ENV)
    if not count:
        return
    if not count.isdigit() or int(count) < 1:
        raise PipelineError(f"{CPU_DEVICES_ENV}: expected a number of devices >= 1 (got {count!r})")
    if params.backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
        # XLA's CPU client has one thread per core; each device waiting in the RNN's per-step
        # gradient all-reduce holds one, so with as many devices as cores training deadlocks
        # (seen on 2 cores). Spare threads avoid it.
        os.environ.setdefault("PJRT_NPROC", str(max(os.cpu_count() or 1, 4 * int(count))))
    else:
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(count))


@dataclass(frozen=True)
class Cluster:
    """The processes training together: `workers` of them, this one being number `rank`. Rank 0 is
    the chief: it alone writes the stage's outputs and logs the MLflow run."""

    workers: int = 1
    rank: int = 0
    addresses: tuple[str, ...] = ()  # host:port of each rank (TensorFlow's; JAX needs only the coordinator's)
    tasks: tuple[tuple[str, int], ...] = ()  # TF_CONFIG's (job, index) of each rank

    @property
    def chief(self) -> bool:
        return self.rank == 0

    def name(self, rank: int) -> str:
        where = f" ({self.addresses[rank]})" if rank < len(self.addresses) else ""
        return f"worker {rank}{where}"


def cluster(params: TrainParams) -> Cluster:
    """This process's place in the cluster, from the environment before anything starts (the chief must
    know it is the chief before it opens the MLflow store); one line if the settings are missing or malformed."""
    if params.distribute != "multi_worker":
        return Cluster()
    if missing := [name for name in CLUSTER_ENV[params.backend] if name not in os.environ]:
        raise PipelineError(
            f"train.distribute: multi_worker on {params.backend} needs {', '.join(missing)} set on every host"
        )
    if params.backend == "jax":
        count, rank = os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"], os.environ["KERAS_DISTRIBUTION_PROCESS_ID"]
        if not (count.isdigit() and rank.isdigit() and int(rank) < int(count)):
            raise PipelineError(
                "KERAS_DISTRIBUTION_NUM_PROCESSES / KERAS_DISTRIBUTION_PROCESS_ID: expected N >= 1 and "
                f"a process id from 0 to N-1 (got {count!r} / {rank!r})"
            )
        return Cluster(int(count), int(rank), tuple(os.environ["KERAS_DISTRIBUTION_JOB_ADDRESSES"].split(",")))
    # Ranked as MultiWorkerMirroredStrategy ranks TF_CONFIG's tasks: the `chief` task if there is one, then
    # the `worker` tasks in order; without a chief, worker 0 is the chief.
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        jobs = config["cluster"]
        task_type, index = config["task"]["type"], int(config["task"]["index"])
        order = [(job, i) for job in ("chief", "worker") for i in range(len(jobs.get(job, [])))]
        return Cluster(
            len(order), order.index((task_type, index)), tuple(jobs[job][i] for job, i in order), tuple(order)
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PipelineError(
            'TF_CONFIG: expected {"cluster": {"worker": ["host:port", ...]}, '
            '"task": {"type": "worker", "index": N}} naming a task of the cluster'
        ) from None


@dataclass(frozen=True)
class Placement:
    """Where training runs: the scope to build the model in, the model replicas in all (each takes
    an even share of every global batch), and the cluster."""

    scope: contextlib.AbstractContextManager
    replicas: int
    cluster: Cluster
    strategy: object = None  # TensorFlow's, for multi-worker runs

    def shard(self, *arrays):  # arrays of the same length, or None (no sample weights)
        """This process's share of the data. TensorFlow splits each global batch over the workers
        itself; JAX's multi-process fit takes each process's part of every batch, so each process
        feeds its own slice (cut to the same length on every process: up to workers-1 rows dropped)."""
        workers, rank = self.cluster.workers, self.cluster.rank
        if workers == 1 or self.strategy is not None:
            return arrays
        size = len(arrays[0]) // workers
        return tuple(None if array is None else array[rank::workers][:size] for array in arrays)

    def batch_size(self, global_batch: int) -> int:
        """What this process passes to fit(): the global batch, or its share of it on JAX."""
        return global_batch if self.strategy is not None else global_batch // self.cluster.workers

    def build(self, model, sample_batch) -> None:
        """Multi-worker TensorFlow: the training state built now (keras_patches.build_training_state)."""
        if self.strategy is not None:
            with self.strategy.scope():
                keras_patches.build_training_state(model, sample_batch)

    def barrier(self) -> None:
        """Every worker waits here for all the others (once all have saved): the chief, which hosts
        TensorFlow's coordination service, leaves last, so no worker loses it while finishing."""
        if self.strategy is not None:
            import tensorflow as tf

            with self.peers_watched():
                self.strategy.reduce("SUM", tf.constant(1.0), axis=None)

    @contextlib.contextmanager
    def peers_watched(self):
        """Collective errors (a worker died, or stopped answering) as one line naming the worker."""
        try:
            yield
        except Exception as exc:
            if self.cluster.workers == 1 or not _is_collective_error(exc):
                raise
            error = PipelineError(
                f"train.distribute: multi_worker: {self._lost_peer(str(exc))} stopped responding, "
                f"training stopped ({type(exc).__name__})"
            )
            # JAX's exit hook (jax.distributed.shutdown) would wait 100 s for the dead peer's
            # heartbeat, then XLA aborts the process (exit 134).
            error.exit_at_once = self.strategy is None
            raise error from None

    def _lost_peer(self, message: str) -> str:
        """The worker that is gone: the one the error names, the only other one, or the one whose port is closed."""
        tasks, addresses = self.cluster.tasks, self.cluster.addresses
        for job, index in re.findall(r"/job:(chief|worker)/replica:\d+/task:(\d+)", message):
            if (job, int(index)) in tasks and tasks.index((job, int(index))) != self.cluster.rank:
                return self.cluster.name(tasks.index((job, int(index))))
        others = [rank for rank in range(self.cluster.workers) if rank != self.cluster.rank]
        if len(others) == 1:
            return self.cluster.name(others[0])
        # Every TensorFlow worker listens on its address; of JAX's, only the coordinator (rank 0).
        for rank in others if self.strategy is not None else [0]:
            if rank in others and rank < len(addresses) and not _listening(addresses[rank]):
                return self.cluster.name(rank)
        return "another worker"


def _is_collective_error(exc: Exception) -> bool:
    """A collective op that failed because a peer is gone: TensorFlow's errors of unreachable or
    aborted peers; JAX's runtime errors, and Gloo's (JAX raises those as ValueError)."""
    if os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        kinds = ("Unavailable", "DeadlineExceeded", "Cancelled", "Internal", "FailedPrecondition", "Aborted")
        return isinstance(exc, tuple(getattr(tf.errors, f"{kind}Error") for kind in kinds))
    import jax

    return isinstance(exc, jax.errors.JaxRuntimeError) or (isinstance(exc, ValueError) and "Gloo" in str(exc))


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def distribution(params: TrainParams, cluster: Cluster = Cluster()) -> Placement:
    """Where to train: `none` one device; `mirrored` a replica on every local GPU (else every CPU device),
    gradients averaged; `multi_worker` the same across processes and hosts. Each backend's own engine:
    tf.distribute on TensorFlow, keras.distribution (DataParallel, jax.distributed) on JAX."""
    if params.distribute == "none":
        return Placement(contextlib.nullcontext(), 1, cluster)
    multi = params.distribute == "multi_worker"
    if params.backend == "tensorflow":
        import tensorflow as tf

        if multi:  # from TF_CONFIG; no collective waits forever
            keras_patches.average_scalar_logs_over_workers()
            options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_S)
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        else:
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
        scope, replicas = strategy.scope(), strategy.num_replicas_in_sync
    else:
        import keras

        if multi:
            # jax.distributed from the KERAS_DISTRIBUTION_* variables (waits up to 5 minutes for every
            # process); JAX's CPU collectives between processes go over Gloo.
            keras.distribution.initialize()
        devices = keras.distribution.list_devices()  # every process's devices
        # For the whole process: building the model places its variables, fit() shards each batch. With
        # several processes, each feeds its own slice (Placement.shard): Keras would want a tf.data pipeline.
        data_parallel = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=not multi)
        keras.distribution.set_distribution(data_parallel)
        scope, replicas, strategy = contextlib.nullcontext(), len(devices), None
    if params.batch_size % replicas:
        raise PipelineError(f"train.batch_size: {params.batch_size} does not split evenly over {replicas} replicas")
    return Placement(scope, replicas, cluster, strategy if multi else None)
