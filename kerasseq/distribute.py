"""Several devices, several processes, mixed precision: settings every task trains with.

No task changes its code for these. They are :class:`~kerasseq.config.RunConfig` fields that
the runner (:func:`kerasseq.training.train`) applies before it builds or loads the model:

- ``--precision bfloat16|float16``: Keras' ``mixed_bfloat16`` / ``mixed_float16`` dtype
  policy. Variables stay float32 and layers compute in half precision. Losses and metrics
  cast predictions to float32 before they compute. float16 also scales the loss
  (``LossScaleOptimizer``) so that small gradients do not underflow. Evaluation, plots and
  export use a float32 copy of the trained model (:func:`float32_copy`).
- ``--distribute data``: ``keras.distribution.DataParallel`` over every device of every
  process: one replica of the model per device, with each global batch split between them.
- ``--distribute model``: ``keras.distribution.ModelParallel`` over this process's devices.
  Kernels and embedding tables are sharded over a ``model`` mesh axis as Megatron-LM splits
  them (:data:`MODEL_PARALLEL_LAYOUTS`). A variable whose dimension the axis does not divide
  is replicated.
- ``--num_processes N --process_id I --coordinator HOST:PORT`` (or ``KERASSEQ_NUM_PROCESSES``,
  ``KERASSEQ_PROCESS_ID``, ``KERASSEQ_COORDINATOR``): one job of N processes, connected by
  ``keras.distribution.initialize`` (JAX's distributed runtime, with Gloo collectives between
  CPUs). Process I reads rows ``I·B/N .. (I+1)·B/N`` of every global batch of B rows, so the
  row streams of a stateful model continue from batch to batch as they do in one process.
  Process 0 alone writes checkpoints, MLflow runs, plots and exports. The other processes
  work in a scratch copy of the run folder and resume from process 0's checkpoints, so a
  job on several machines needs a run folder that every machine can read.

Distribution needs the JAX backend. Keras 3's distribution API has no TensorFlow
implementation (its DTensor prototype is marked "DO NOT USE"), and ``fit`` under
``tf.distribute.MultiWorkerMirroredStrategy`` fails with Keras 3 (keras-team/keras#20585).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import keras

from kerasseq.errors import UserError

# Where the process settings come from when their flags are left at the defaults.
ENVIRONMENT = {"num_processes": "KERASSEQ_NUM_PROCESSES", "process_id": "KERASSEQ_PROCESS_ID",
               "coordinator": "KERASSEQ_COORDINATOR"}

DTYPE_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}

# Sharding of --distribute model, by variable path (full match), as Megatron-LM splits a
# Transformer: query/key/value kernels (d_model, heads, head_dim) and the attention output's
# (heads, head_dim, d_model) by heads, so each device computes whole heads; the feed-forward's
# first kernel by columns and its second by rows, so the hidden layer never gathers. Other
# kernels (Dense (in, out), recurrent) split by output units, embedding tables by width.
MODEL_PARALLEL_LAYOUTS = {
    r"(.*/)?(query|key|value)/kernel": (None, "model", None),
    r"(.*/)?attention_output/kernel": ("model", None, None),
    r"(.*/)?feedforward_output/kernel": ("model", None),
    r"(?!(.*/)?(query|key|value|attention_output|feedforward_output)/kernel$).*kernel": (None, "model"),
    r".*embeddings": (None, "model"),
}

_joined = None  # (coordinator, processes, id) of the job this interpreter joined


def resolve(config):
    """``config`` with the process settings filled in (from the environment where the flags
    were left at their defaults, else one process) and checked against the backend."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    values = {}
    for name, variable in ENVIRONMENT.items():
        text = os.environ.get(variable, "")
        if getattr(config, name) == defaults[name] and text:
            try:
                values[name] = text if name == "coordinator" else int(text)
            except ValueError:
                raise UserError(f"${variable} must be an integer; got {text!r}") from None
    config = dataclasses.replace(config, **values)
    processes, process = max(config.num_processes, 1), max(config.process_id, 0)
    if processes > 1:
        if not config.coordinator:
            raise UserError(f"a job of {processes} processes needs --coordinator HOST:PORT (or "
                            "$KERASSEQ_COORDINATOR): where process 0 listens")
        if process >= processes:
            raise UserError(f"--process_id must be in 0 .. {processes - 1}; got {process}")
        if config.distribute == "none":
            raise UserError(f"a job of {processes} processes needs --distribute data")
        if config.distribute == "model":
            raise UserError("--distribute model shards the model over the devices of one "
                            "process; across processes use --distribute data")
    if (config.distribute != "none" or processes > 1) and keras.backend.backend() != "jax":
        raise UserError(
            f"--distribute {config.distribute} needs the JAX backend: multi-device and multi-node "
            f"runs use KERAS_BACKEND=jax (this is {keras.backend.backend()}; Keras 3's distribution "
            "API has no TensorFlow implementation, and fit under tf.distribute's "
            "MultiWorkerMirroredStrategy fails with Keras 3: keras-team/keras#20585)")
    return dataclasses.replace(config, num_processes=processes, process_id=process)


class Job:
    """The devices, processes and precision of one training run (a context manager).

    On entry: joins the multi-process job, sets the dtype policy and the distribution. On
    exit: restores the policy and distribution that were set before, and deletes the scratch
    folder of a process other than 0.
    """

    def __init__(self, config):
        self.config = config
        self.process_id = config.process_id
        self.num_processes = config.num_processes
        self.distribution = None
        self.scratch = None
        self._before = None

    @property
    def chief(self) -> bool:
        """Process 0: the one that writes."""
        return self.process_id == 0

    @property
    def multi_process(self) -> bool:
        return self.num_processes > 1

    @property
    def replicas(self) -> int:
        """Model replicas, each fed an equal share of every batch (1 without data parallelism)."""
        if self.distribution is None:
            return 1
        mesh = self.distribution.device_mesh
        return mesh.shape[mesh.axis_names.index(self.distribution.batch_dim_name)]

    def __enter__(self) -> "Job":
        from keras.distribution import distribution, set_distribution

        self._before = (keras.config.dtype_policy(), distribution())
        if self.multi_process:
            _join(self.config)
        self.distribution = _make_distribution(self.config.distribute)
        set_distribution(self.distribution)
        keras.config.set_dtype_policy(DTYPE_POLICIES[self.config.precision])
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        if self.replicas > 1:
            # A dataset whose partial batches `shard` drops has no known length: Keras learns
            # it when the first pass ends, and warns that the data ran out.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
        return self

    def __exit__(self, *exc_info):
        from keras.distribution import set_distribution

        self._warnings.__exit__(*exc_info)
        policy, distribution = self._before
        keras.config.set_dtype_policy(policy)
        set_distribution(distribution)
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def describe(self) -> str:
        if self.distribution is None:
            return ""
        devices = self.distribution.device_mesh.devices.size
        where = (f"process {self.process_id} of {self.num_processes} (coordinator "
                 f"{self.config.coordinator}), " if self.multi_process else "")
        return f"{where}{self.config.distribute} parallel over {devices} device{'s' * (devices != 1)}"

    def optimizer(self, optimizer):
        """``optimizer``, with loss scaling under float16."""
        if self.config.precision == "float16":
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def barrier(self, name: str) -> None:
        """Wait until every process of the job gets here."""
        if self.multi_process:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(name)

    def scratch_copy(self, run_dir: Path) -> Path:
        """A private copy of what ``run_dir`` holds besides checkpoints, plots and exports
        (vocabularies, statistics), for a process other than 0 to read and write."""
        self.scratch = Path(tempfile.mkdtemp(prefix=f"kerasseq-process{self.process_id}-"))
        if run_dir.exists():
            shutil.copytree(run_dir, self.scratch, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("checkpoint", "artifacts", "export"))
        return self.scratch

    @contextlib.contextmanager
    def local(self):
        """No distribution inside: what process 0 does alone (saving a checkpoint creates
        variables, which under the distribution would wait for the other processes)."""
        from keras.distribution import distribution, set_distribution

        before = distribution()
        set_distribution(None)
        try:
            yield
        finally:
            set_distribution(before)

    def end_training(self) -> None:
        """Leave the job: from here on process 0 works alone, on one device and with the dtype
        policy set before (evaluation, plots, export)."""
        from keras.distribution import set_distribution

        set_distribution(None)
        keras.config.set_dtype_policy(self._before[0])
        if self.multi_process:
            import jax

            global _joined
            jax.distributed.shutdown()
            _joined = "ended"

    def shard(self, dataset):
        """The share of every global batch that this process feeds.

        Under data parallelism a batch must split evenly over the model replicas: a batch
        that does not (the last, partial one) is dropped. With N processes, process I keeps
        rows ``I·B/N .. (I+1)·B/N`` of each batch of B rows.
        """
        if self.replicas == 1:
            return dataset
        try:
            import tensorflow as tf
        except ImportError:  # JAX without TensorFlow: a keras.utils.PyDataset
            tf = None
        if tf is None or not isinstance(dataset, tf.data.Dataset):
            if self.multi_process:
                raise UserError("a job of several processes needs tf.data datasets; this task "
                                f"feeds {type(dataset).__name__}")
            return dataset
        # The batch size, without reading the dataset (that would advance its shuffling).
        static = tf.nest.flatten(dataset.element_spec)[0].shape[0]
        batch = static or getattr(self.config, "batch_size", 0)
        if batch and batch % self.replicas:
            raise UserError(f"batches of {batch} rows do not split over {self.replicas} model "
                            "replicas; choose a batch size that is a multiple of it")
        replicas, processes, index = self.replicas, self.num_processes, self.process_id

        def rows(element):
            return tf.shape(tf.nest.flatten(element)[0])[0]

        def share(*element):
            element = element if len(element) > 1 else element[0]
            size = rows(element) // processes
            return tf.nest.map_structure(lambda t: t[index * size: (index + 1) * size], element)

        if static is None:
            dataset = dataset.filter(lambda *e: rows(e) % replicas == 0)
        return dataset.map(share) if self.multi_process else dataset


# What JAX's collectives say when another process of the job is gone (Gloo between CPUs,
# NCCL between GPUs); the error reaches Python as a JaxRuntimeError or, from the collectives
# that check values across processes, as a ValueError.
_LOST_PROCESS_SIGNS = ("Gloo", "NCCL", "heartbeat", "Connection reset", "Connection closed")


def lost_process(error: BaseException) -> bool:
    """Whether ``error`` says that a collective failed because another process stopped."""
    while error is not None:
        if type(error).__name__ == "JaxRuntimeError" or any(
                sign in str(error) for sign in _LOST_PROCESS_SIGNS):
            return True
        error = error.__cause__ or error.__context__
    return False


def float32_copy(model):
    """``model`` rebuilt with float32 layers and the same weights, compiled the same way;
    ``model`` itself when none of its layers computes in mixed precision.

    A run trained in mixed precision is evaluated, plotted and exported from this copy, so
    task code after training (decoders, samplers, export signatures) sees float32 as always.
    """
    config = keras.saving.serialize_keras_object(model)
    if "mixed_" not in json.dumps(config):
        return model

    def to_float32(node):
        if isinstance(node, list):
            return [to_float32(v) for v in node]
        if not isinstance(node, dict):
            return node
        if node.get("class_name") == "DTypePolicy" and node["config"]["name"].startswith("mixed_"):
            return {**node, "config": {**node["config"], "name": "float32"}}
        return {k: to_float32(v) for k, v in node.items()}

    copy = keras.saving.deserialize_keras_object(to_float32(config))
    copy.set_weights(model.get_weights())
    copy.jit_compile = model.jit_compile
    return copy


def _join(config) -> None:
    global _joined
    key = (config.coordinator, config.num_processes, config.process_id)
    if _joined == key:
        return
    if _joined is not None:
        raise UserError("this Python process has already trained in a job of several processes; "
                        "start a new one for each run")
    import jax

    # Cross-process collectives between CPU devices (GPUs and TPUs use their own).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize(config.coordinator, config.num_processes, config.process_id)
    except RuntimeError as exc:
        raise UserError(f"could not join the job at {config.coordinator} as process "
                        f"{config.process_id} of {config.num_processes}: {exc}") from None
    _joined = key


def _make_distribution(kind: str):
    from keras import distribution as dist

    if kind == "none":
        return None
    devices = dist.list_devices()
    if kind == "data":
        # kerasseq shards the datasets itself (Job.shard): Keras' own sharding needs a batch
        # size that TensorFlow can infer statically and breaks on a partial last batch.
        return dist.DataParallel(devices=devices, auto_shard_dataset=False)
    mesh = dist.DeviceMesh((1, len(devices)), ("batch", "model"), devices)
    layouts = dist.LayoutMap(mesh)
    for pattern, axes in MODEL_PARALLEL_LAYOUTS.items():
        layouts[pattern] = axes
    return _ShardedKernels(layout_map=layouts, batch_dim_name="batch", auto_shard_dataset=False)


class _ShardedKernels(keras.distribution.ModelParallel):
    """ModelParallel that replicates a variable its layout does not fit (another rank, e.g. a
    convolution kernel, or a dimension the mesh axis does not divide)."""

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        mesh = self.device_mesh
        fits = len(layout.axes) == len(variable.shape) and all(
            axis is None or variable.shape[i] % mesh.shape[mesh.axis_names.index(axis)] == 0
            for i, axis in enumerate(layout.axes))
        if fits:
            return layout
        return keras.distribution.TensorLayout([None] * len(variable.shape), mesh)

