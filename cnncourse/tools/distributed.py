"""Training past one machine: the course's small 3D CNN under ``MultiWorkerMirroredStrategy``.

Every machine (a *worker*) runs the same command; what tells them apart is the environment
variable ``TF_CONFIG``, a JSON document with the addresses of all workers and this worker's
index::

    # machine 0                                       # machine 1
    export TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                       "task": {"type": "worker", "index": 0}}'      # index 1 on machine 1
    python -m cnncourse.tools.distributed --epochs 3 --out weights_worker0.npz

Worker 0 is the *chief*. Each worker holds a full copy of the model; every step, each worker
computes the gradient of its share of the global batch and the gradients are summed over the
network (an all-reduce) before every copy applies the same update, so the copies stay identical
(synchronous data parallelism). tf.distribute shards the data by example (each worker reads every
``n``-th batch element), so all workers must build the same dataset: same seed, same order.

The strategy must be created before TensorFlow runs anything else in the process, which is why
this module is a command (one fresh process per worker) rather than a notebook cell.
``tests/system/test_distributed.py`` runs two workers on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only
    import keras

__all__ = ["synthetic_volumes", "tiny_cnn3d", "train_multiworker", "cluster_spec", "main"]


def synthetic_volumes(n: int, size: int = 16, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small **synthetic** two-class set of 3D volumes: noisy filled balls (class 1) and
    hollow shells (class 0) of random radius and centre, equal total brightness on average.

    Returns
    -------
    x : ndarray of float32, shape (n, size, size, size, 1)
    y : ndarray of float32, shape (n,)
    """
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2; got {n!r}")
    if isinstance(size, bool) or int(size) != size or size < 8:
        raise ValueError(f"size must be an integer >= 8; got {size!r}")
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.float32)
    rng.shuffle(y)
    z, yy, x = np.ogrid[:size, :size, :size]
    vols = np.empty((n, size, size, size, 1), np.float32)
    for i in range(n):
        r = rng.uniform(0.2, 0.35) * size
        c = size / 2 + rng.uniform(-0.1, 0.1, 3) * size
        dist = np.sqrt((z - c[0]) ** 2 + (yy - c[1]) ** 2 + (x - c[2]) ** 2)
        shape = dist < r if y[i] else np.abs(dist - 0.8 * r) < 0.15 * r + 0.5
        vols[i, ..., 0] = shape + 0.3 * rng.standard_normal(shape.shape)
    return vols, y


def tiny_cnn3d(input_shape: tuple[int, int, int, int] = (16, 16, 16, 1),
               filters: Sequence[int] = (4, 8), *, seed: int = 0) -> keras.Model:
    """A small 3D CNN (per width: Conv3D 3x3x3 + ReLU + 2x max pooling; global average pooling;
    one sigmoid unit), the shape of the course's 3D CNN at toy size."""
    from cnncourse.device import import_keras

    keras = import_keras()
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input(shape=tuple(input_shape))
    h = inputs
    for i, f in enumerate(filters):
        h = keras.layers.Conv3D(int(f), 3, padding="same", activation="relu",
                                kernel_initializer=init, name=f"conv_{i}")(h)
        h = keras.layers.MaxPooling3D(2, name=f"pool_{i}")(h)
    h = keras.layers.GlobalAveragePooling3D()(h)
    out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init, name="prob")(h)
    return keras.Model(inputs, out, name="tiny_cnn3d")


def cluster_spec(tf_config: str | None = None) -> tuple[int, int]:
    """``(number of workers, this worker's index)`` from ``TF_CONFIG`` (default: the
    environment); raises ValueError naming what is missing or malformed."""
    raw = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if not raw:
        raise ValueError("TF_CONFIG is not set: each worker needs "
                         '{"cluster": {"worker": [host:port, ...]}, "task": {"type": "worker", '
                         '"index": i}}')
    try:
        spec = json.loads(raw)
        workers = spec["cluster"]["worker"]
        task = spec["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"TF_CONFIG is malformed ({err!r}): expected "
                         '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}'
                         ) from None
    if task.get("type") not in ("worker", "chief"):
        raise ValueError(f"TF_CONFIG task type must be 'worker'; got {task.get('type')!r}")
    if not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG task index {index} is outside the {len(workers)} workers")
    return len(workers), index


def train_multiworker(x: np.ndarray | None = None, y: np.ndarray | None = None, *,
                      build_model: Callable[[], keras.Model] | None = None, epochs: int = 3,
                      steps_per_epoch: int | None = None, global_batch_size: int = 16,
                      learning_rate: float = 3e-3, seed: int = 0,
                      verbose: int = 0) -> tuple[keras.Model, dict]:
    """Train a model with ``tf.distribute.MultiWorkerMirroredStrategy`` (from ``TF_CONFIG``).

    Call it in a fresh process, on every worker, with the same arguments.

    Parameters
    ----------
    x, y : ndarray, optional
        Inputs ``(n, D, H, W, C)`` float32 and labels ``(n,)``; default
        :func:`synthetic_volumes` ``(64, 16, seed=seed)``.
    build_model : callable, optional
        ``build_model(input_shape) -> keras.Model`` (uncompiled), called inside the strategy's
        scope; default :func:`tiny_cnn3d`. The course's own model fits:
        ``lambda shape: cnncourse.cnn3d.build_cnn3d(input_shape=shape, filters=(8, 16))``.
    epochs, steps_per_epoch : int
        ``steps_per_epoch`` defaults to one pass over the data.
    global_batch_size : int
        Examples per step over all workers (each worker computes ``global / workers``).
    learning_rate, seed : float, int
    verbose : int
        As in ``model.fit``.

    Returns
    -------
    model : keras.Model
        Trained; identical on every worker.
    history : dict
        ``"loss"``: the mean training loss of every epoch (averaged over the global batch, the
        same on every worker), ``"workers"`` and ``"index"``.
    """
    from cnncourse.device import import_tensorflow

    workers, index = cluster_spec()
    tf = import_tensorflow()
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if strategy.num_replicas_in_sync < workers:
        raise RuntimeError(f"the strategy sees {strategy.num_replicas_in_sync} replicas for "
                           f"{workers} workers in TF_CONFIG")
    if global_batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"global_batch_size {global_batch_size} must be a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas")
    if x is None:
        x, y = synthetic_volumes(64, 16, seed=seed)
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    if x.ndim != 5 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, D, H, W, C) and y (n,); got {x.shape} and {y.shape}")
    from cnncourse.device import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    data = (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(global_batch_size, drop_remainder=True))
    opts = tf.data.Options()
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(opts)
    if steps_per_epoch is None:
        steps_per_epoch = max(1, len(x) // global_batch_size)
    with strategy.scope():
        model = (build_model or tiny_cnn3d)(x.shape[1:])
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.BinaryCrossentropy(reduction=None)

    # Keras 3's model.fit does not run under MultiWorkerMirroredStrategy
    # (https://github.com/keras-team/keras/issues/20585), so this is the custom loop of the
    # TensorFlow guide: each replica averages its loss over the GLOBAL batch, and Keras'
    # optimizer sums the gradients over all replicas (an all-reduce) before the update.
    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = loss_fn(yb[:, None], model(xb, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    iterator = iter(strategy.experimental_distribute_dataset(data))
    history = {"loss": []}
    for epoch in range(int(epochs)):
        total = 0.0
        for _ in range(int(steps_per_epoch)):
            total += float(train_step(next(iterator)))
        history["loss"].append(total / steps_per_epoch)
        if verbose:
            print(f"worker {index}: epoch {epoch + 1}/{epochs} loss {history['loss'][-1]:.4f}",
                  flush=True)
    history.update(workers=workers, index=index)
    return model, history


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cnncourse.tools.distributed``: train on this worker, save weights and losses."""
    parser = argparse.ArgumentParser(
        prog="python -m cnncourse.tools.distributed",
        description="Train the small 3D CNN on synthetic volumes with MultiWorkerMirroredStrategy. "
                    "Set TF_CONFIG on every machine and run the same command on each.")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--global-batch-size", type=int, default=16)
    parser.add_argument("--samples", type=int, default=64, help="synthetic volumes")
    parser.add_argument("--size", type=int, default=16, help="side of the synthetic volumes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="write this worker's final weights and losses here (.npz)")
    args = parser.parse_args(argv)
    x, y = synthetic_volumes(args.samples, args.size, seed=args.seed)
    model, history = train_multiworker(
        x, y, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
        global_batch_size=args.global_batch_size, seed=args.seed, verbose=0)
    losses = history["loss"]
    print(f"worker {history['index']} of {history['workers']}: loss per epoch "
          + ", ".join(f"{v:.4f}" for v in losses), flush=True)
    if args.out:
        weights = {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
        np.savez(args.out, loss=np.array(losses), **weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
