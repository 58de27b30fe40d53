"""Data-parallel training on ``tf.distribute``: one :class:`~tfatoms.train.trainer.BatchTrainer`, many replicas.

``BatchTrainer(model, strategy=strategy)`` trains with any synchronous strategy of
TensorFlow: :class:`tf.distribute.MultiWorkerMirroredStrategy` across processes
(one per node, or one per core of a CPU cluster) and :class:`tf.distribute.MirroredStrategy`
across the GPUs of one machine. The engine is TensorFlow's own (gRPC collectives, NCCL
on GPUs); nothing here talks to the network.

The contract (what makes a distributed run the same run as a single-process one):

* **One global batch.** Every worker walks the same seeded order of the batch source
  (:meth:`~tfatoms.representations.batch_source.BatchSource.batch_indices`); the
  structures of each global batch of ``batch_size`` are cut into one contiguous shard
  per replica (:func:`shard`), and each replica collates only its own shard.
* **One loss.** A replica's loss is weighted by its share of the global batch's real
  examples, ``loss_r * n_r / n_global``, and the gradients are summed over replicas
  (Keras' optimizer all-reduces them): the update is the single-process gradient of
  the global batch to float32 round-off (tested with two worker processes on
  localhost). An empty shard (an epoch's last batch with fewer structures than
  replicas) contributes zero.
* **One checkpoint.** Only the chief (:func:`is_chief`: worker 0, or the ``chief`` task)
  takes the directory's lock and writes ``state.json``, the weights, the optimizer state
  and ``history.jsonl``; every worker reads the same files when it resumes, so
  ``checkpoint_dir`` must be on a filesystem all workers see (checked: workers that
  restored different steps stop with an error instead of training apart).
* **One decision.** Validation runs on every worker with identical weights, so early
  stopping agrees by construction; the time limit is the chief's clock, gathered by every worker.

Data augmentation (a source's :meth:`collate_training`) draws from ``(seed, epoch, batch)``
per shard, so an augmented distributed run is not the single-process run draw for draw;
everything else is.

Strategies from the environment, :func:`strategy_from_environment`:
``"multi-worker"`` reads ``TF_CONFIG`` (set by the launcher) or, inside a Slurm job step
without it, TensorFlow's ``SlurmClusterResolver`` (:func:`slurm_resolver`; ``mpi/slurm_train.sh``); ``"mirrored"``
takes the local GPUs (or the CPU). Create the strategy at program start, before other
TensorFlow work (TensorFlow's rule for the multi-worker collectives).
"""
from __future__ import annotations

import contextlib
import json
import os

import numpy as np

STRATEGIES = ("none", "mirrored", "multi-worker")


def strategy_from_environment(kind: str = "multi-worker"):
    """The ``tf.distribute`` strategy ``kind`` (one of :data:`STRATEGIES`; ``"none"`` gives ``None``).

    ``"multi-worker"`` needs ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]},
    "task": {"type": "worker", "index": k}}``) or a Slurm job step with one task per worker;
    without either it raises ``ValueError`` saying so.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {kind!r}")
    if kind == "none":
        return None
    import tensorflow as tf

    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    resolver = None
    if "TF_CONFIG" in os.environ:
        config = tf_config()
        if "worker" not in config.get("cluster", {}) and "chief" not in config.get("cluster", {}):
            raise ValueError(f"TF_CONFIG has no 'worker' or 'chief' in its cluster: {os.environ['TF_CONFIG']}")
    elif "SLURM_JOB_ID" in os.environ and "SLURM_PROCID" in os.environ:
        resolver = slurm_resolver()
    else:
        raise ValueError("strategy 'multi-worker' needs TF_CONFIG (the cluster's workers and this process' "
                         "index; see tfatoms.train.distribute.local_tf_config) or a Slurm job step "
                         "(srun, one task per worker)")
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def slurm_resolver():
    """TensorFlow's ``SlurmClusterResolver`` for this job step: one worker per Slurm task, ports from
    ``$TFATOMS_PORT_BASE`` (default 8888) up on each node.

    On nodes without NVIDIA GPUs (no ``CUDA_VISIBLE_DEVICES``, no ``nvidia-smi``) TensorFlow's resolver would
    fail looking for ``nvidia-smi`` or list no workers (it gives each task a port only with a GPU), so there
    every task counts as having one pseudo-GPU and nothing sets ``CUDA_VISIBLE_DEVICES``.
    """
    import shutil

    import tensorflow as tf

    kwargs = {"port_base": int(os.environ.get("TFATOMS_PORT_BASE", "8888"))}
    if "CUDA_VISIBLE_DEVICES" not in os.environ and shutil.which("nvidia-smi") is None:
        tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or "1")
        kwargs.update(gpus_per_node=tasks, gpus_per_task=1, auto_set_gpu=False)
    return tf.distribute.cluster_resolver.SlurmClusterResolver(**kwargs)


def tf_config() -> dict:
    """``TF_CONFIG`` as a dict (``{}`` when unset); ``ValueError`` naming it when it is not JSON."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not JSON ({err}): {text[:200]!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {text[:200]!r}")
    return config


def local_tf_config(ports, index: int) -> str:
    """``TF_CONFIG`` of worker ``index`` of ``len(ports)`` workers on this machine (localhost ports)."""
    return json.dumps({"cluster": {"worker": [f"localhost:{int(p)}" for p in ports]},
                       "task": {"type": "worker", "index": int(index)}})


def is_chief(strategy) -> bool:
    """Whether this process writes checkpoints: always without a strategy or with a one-process one; under
    multi-worker, the ``chief`` task, or worker 0 when the cluster has no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if strategy is None or resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0 and not has_chief


def strategy_scope(strategy):
    """``strategy.scope()``, or a context that does nothing without a strategy (one process)."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def shard(indices, replica: int, n_replicas: int) -> np.ndarray:
    """Replica ``replica``'s contiguous part of one global batch ``indices`` (sizes differ by at most one,
    the first replicas take the larger parts; a replica may get none when the batch is smaller than
    ``n_replicas``)."""
    return np.array_split(np.asarray(indices), n_replicas)[replica]


def describe(strategy) -> str:
    """One line naming the strategy, its replicas and this process' task (for logs and provenance)."""
    if strategy is None:
        return "one process (no tf.distribute strategy)"
    resolver = getattr(strategy, "cluster_resolver", None)
    task = ""
    if resolver is not None and resolver.task_type:
        task = f", this process {resolver.task_type} {resolver.task_id}"
    return f"{type(strategy).__name__}, {strategy.num_replicas_in_sync} replicas{task}"
