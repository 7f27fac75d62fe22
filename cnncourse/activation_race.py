"""Does ReLU train faster than tanh? A small, honest NumPy experiment (notebook 02).

Krizhevsky, Sutskever and Hinton (2012, Figure 1) report that a four-layer convolutional network
with ReLUs reached 25% training error on CIFAR-10 six times faster than the same network with tanh
units, with each network's learning rate chosen to make it train as fast as possible. This module
repeats the *protocol* on a task that runs in seconds on a laptop:

* the same fully connected network (inputs -> hidden layers -> 10 softmax outputs), the same
  initialisation (Glorot uniform, zero biases, same seed), the same mini-batches, plain SGD with
  momentum and no regularisation; only the activation function (and its derivative) differs;
* the training error on the whole training set is measured ``evals_per_epoch`` times per epoch;
* for each activation the learning rate is chosen from a grid as the one reaching the target
  training error in the fewest epochs (median over seeds), then the ratio of epochs is reported.

Everything is NumPy, so the activation functions can be the learner's own (any pair ``(f, df)``).

Examples
--------
>>> from cnncourse import activation_race as ar
>>> X, y = ar.digits_task()
>>> run = ar.train_mlp(X, y, "relu", hidden=(32,), max_epochs=1, seed=0)  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from cnncourse import neurons

if TYPE_CHECKING:  # annotations only
    import matplotlib.axes
    import matplotlib.figure

__all__ = ["digits_task", "Run", "train_mlp", "RaceResult", "race", "plot_race"]


def digits_task() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits (1797 images of 8x8 pixels, 10 classes).

    A small image classification task that needs no download. Each pixel is standardised to zero
    mean and unit variance over the set (constant border pixels stay 0).

    Returns
    -------
    X : ndarray of float64, shape (1797, 64)
    y : ndarray of int64, shape (1797,), labels 0..9
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data.astype(np.float64)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return X, digits.target.astype(np.int64)


@dataclass
class Run:
    """One training run: training error measured at fractional epochs."""

    activation: str
    lr: float
    seed: int
    epochs: np.ndarray = field(repr=False)   # (k,) float: when each error was measured
    errors: np.ndarray = field(repr=False)   # (k,) float: training error (fraction misclassified)
    diverged: bool = False
    max_epochs: float = float("inf")         # the training budget the run had

    def epochs_to(self, target: float) -> float:
        """First epoch (fractional) at which the training error is <= ``target``; ``inf`` if never."""
        hit = np.nonzero(self.errors <= target)[0]
        return float(self.epochs[hit[0]]) if hit.size else float("inf")


def _resolve(activation) -> tuple[str, Callable, Callable]:
    if isinstance(activation, str):
        if activation not in neurons.ACTIVATIONS or activation == "step":
            choices = sorted(set(neurons.ACTIVATIONS) - {"step"})
            raise ValueError(f"activation: expected one of {choices} or a pair (f, df), got {activation!r}")
        return (activation, *neurons.ACTIVATIONS[activation])
    if (isinstance(activation, tuple) and len(activation) == 2 and callable(activation[0])
            and callable(activation[1])):
        f, df = activation
        return getattr(f, "__name__", "custom"), f, df
    raise TypeError(f"activation: expected a name or a pair (f, df) of functions, got {activation!r}")


def _single_thread():
    """Limit BLAS to one thread: these matrices are small and threads only add overhead."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)


def train_mlp(X: np.ndarray, y: np.ndarray, activation: str | tuple[Callable, Callable], *,
              hidden: Sequence[int] = (128, 128, 128), lr: float = 0.03,
              momentum: float = 0.9, batch_size: int = 32, max_epochs: float = 20,
              evals_per_epoch: int = 8, stop_error: float | None = None, seed: int = 0) -> Run:
    """Train a fully connected softmax classifier with SGD + momentum; record the training error.

    Parameters
    ----------
    X : array_like of float, shape (n, d)
        Inputs, one row per example.
    y : array_like of int, shape (n,)
        Class labels 0..K-1.
    activation : str or (callable, callable)
        ``"tanh"``, ``"relu"``, ``"sigmoid"``, ``"leaky_relu"`` or a pair ``(f, df)`` of an
        elementwise function and its derivative (e.g. the learner's own).
    hidden : sequence of int
        Widths of the hidden layers.
    lr, momentum : float
        SGD step size and momentum.
    batch_size : int
    max_epochs : float
        Upper bound on training length.
    evals_per_epoch : int
        How often the training error on all of ``X`` is measured.
    stop_error : float, optional
        Stop as soon as the training error is at most this.
    seed : int
        Seeds the initial weights and the mini-batch order (same seed: same start, same batches,
        whatever the activation).

    Returns
    -------
    Run
        ``epochs`` and ``errors`` arrays; ``diverged`` is True when the loss became NaN/inf (the
        learning rate was too large), in which case training stops.
    """
    name, f, df = _resolve(activation)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X: expected shape (n, d), got {X.shape}")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu" or y.size == 0 or y.min() < 0:
        raise ValueError(f"y: expected {X.shape[0]} non-negative integer labels, shape ({X.shape[0]},), "
                         f"got shape {y.shape}, dtype {y.dtype}")
    hidden = tuple(int(h) for h in hidden)
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden: expected positive layer widths, got {hidden}")
    if not (lr > 0 and 0 <= momentum < 1 and batch_size >= 1 and max_epochs > 0 and evals_per_epoch >= 1):
        raise ValueError("expected lr > 0, 0 <= momentum < 1, batch_size >= 1, max_epochs > 0, "
                         f"evals_per_epoch >= 1; got lr={lr}, momentum={momentum}, "
                         f"batch_size={batch_size}, max_epochs={max_epochs}, evals_per_epoch={evals_per_epoch}")
    n, n_classes = X.shape[0], int(y.max()) + 1
    rng = np.random.default_rng(seed)
    sizes = (X.shape[1], *hidden, n_classes)
    W = [rng.uniform(-1, 1, (a, b)) * np.sqrt(6.0 / (a + b)) for a, b in zip(sizes[:-1], sizes[1:])]
    B = [np.zeros(b) for b in sizes[1:]]
    vW = [np.zeros_like(w) for w in W]
    vB = [np.zeros_like(b) for b in B]
    steps_per_epoch = -(-n // batch_size)
    eval_every = max(1, steps_per_epoch // evals_per_epoch)
    total_steps = int(round(max_epochs * steps_per_epoch))

    def forward(h):
        zs, hs = [], [h]
        for i, (w, b) in enumerate(zip(W, B)):
            z = h @ w + b                     # (batch, sizes[i + 1])
            zs.append(z)
            h = np.asarray(f(z), dtype=np.float64) if i < len(W) - 1 else z
            hs.append(h)
        return zs, hs

    def logits_all():
        # in chunks: small temporaries are reused by the allocator instead of being mapped and
        # unmapped by the kernel at every evaluation (which doubled the CPU time)
        return np.concatenate([forward(X[i:i + 256])[1][-1] for i in range(0, n, 256)])

    epochs, errors, diverged = [0.0], [], False
    with _single_thread(), np.errstate(over="ignore", invalid="ignore"):
        errors.append(float(np.mean(logits_all().argmax(1) != y)))
        step = 0
        while step < total_steps and not diverged:
            order = rng.permutation(n)
            for k in range(steps_per_epoch):
                idx = order[k * batch_size:(k + 1) * batch_size]
                zs, hs = forward(X[idx])
                logits = hs[-1]
                p = np.exp(logits - logits.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)     # (batch, K) softmax
                g = p
                g[np.arange(len(idx)), y[idx]] -= 1
                g /= len(idx)                         # d(mean cross-entropy)/d(logits)
                for i in reversed(range(len(W))):
                    gW, gB = hs[i].T @ g, g.sum(axis=0)
                    if i > 0:
                        g = (g @ W[i].T) * np.asarray(df(zs[i - 1]), dtype=np.float64)
                    vW[i] = momentum * vW[i] - lr * gW
                    vB[i] = momentum * vB[i] - lr * gB
                    W[i] += vW[i]
                    B[i] += vB[i]
                step += 1
                if step % eval_every == 0 or k == steps_per_epoch - 1 or step == total_steps:
                    out = logits_all()
                    if not np.all(np.isfinite(out)):
                        diverged = True
                        break
                    epochs.append(step / steps_per_epoch)
                    errors.append(float(np.mean(out.argmax(1) != y)))
                    if stop_error is not None and errors[-1] <= stop_error:
                        total_steps = step
                        break
                if step >= total_steps:
                    break
    return Run(name, float(lr), int(seed), np.array(epochs), np.array(errors), diverged,
               float(max_epochs))


@dataclass
class RaceResult:
    """Outcome of :func:`race`: every run, the chosen learning rates, epochs to the target."""

    target: float
    runs: list[Run]
    best_lr: dict[str, float]
    epochs: dict[str, np.ndarray]            # activation -> epochs to target per seed, at best_lr

    def median_epochs(self, activation: str) -> float:
        return float(np.median(self.epochs[activation]))

    def ratio(self, slow: str = "tanh", fast: str = "relu") -> float:
        """How many times more epochs ``slow`` needs than ``fast`` (median over seeds)."""
        return self.median_epochs(slow) / self.median_epochs(fast)

    def table(self) -> list[dict]:
        """Rows (activation, lr, median epochs to target, runs reaching it) for print_table."""
        rows = []
        for name in self.best_lr:
            for lr in sorted({r.lr for r in self.runs if r.activation == name}):
                rs = [r for r in self.runs if r.activation == name and r.lr == lr]
                e = np.array([r.epochs_to(self.target) for r in rs])
                median = float(np.median(e))
                rows.append({"activation": name, "lr": lr,
                             "median epochs": median if np.isfinite(median) else
                             f"> {max(r.max_epochs for r in rs):.3g}",
                             "reached": f"{int(np.isfinite(e).sum())}/{e.size}",
                             "chosen": "*" if lr == self.best_lr[name] else ""})
        return rows


def race(X: np.ndarray, y: np.ndarray, activations: Sequence | Mapping = ("tanh", "relu"), *,
         target: float = 0.02,
         lrs: Sequence[float] | Mapping[str, Sequence[float]] = (0.01, 0.03, 0.1),
         seeds: Sequence[int] = (0, 1, 2),
         **train_kwargs) -> RaceResult:
    """Epochs to reach ``target`` training error per activation, each at its own best learning rate.

    Parameters
    ----------
    X, y : arrays
        The task (see :func:`digits_task`).
    activations : sequence of names, or mapping name -> (f, df)
    target : float
        Training error to reach (fraction misclassified).
    lrs : sequence of float, or mapping name -> sequence of float
        Learning rates tried for every activation (or a grid per activation); the one with the
        fewest median epochs to the target wins (ties: the first).
    seeds : sequence of int
        One run per seed and learning rate (same seeds for every activation).
    **train_kwargs
        Passed to :func:`train_mlp` (``hidden``, ``max_epochs``, ``batch_size``, ...).

    Notes
    -----
    Once a learning rate has reached the target (median ``m`` epochs), runs at the next learning
    rates are stopped after ``2 m`` epochs: such a run cannot make its median beat ``m``, so the
    choice is the same as with full runs, and failing learning rates cost little.
    """
    if not 0 < target < 1:
        raise ValueError(f"target: expected a training error in (0, 1), got {target}")
    items = list(activations.items() if isinstance(activations, Mapping) else
                 [(a, a) for a in activations])
    if isinstance(lrs, Mapping) and {n for n, _ in items} - set(lrs):
        raise ValueError(f"lrs: no learning rates given for {sorted({n for n, _ in items} - set(lrs))}")
    grids = {name: tuple(lrs[name] if isinstance(lrs, Mapping) else lrs) for name, _ in items}
    if not len(seeds) or not all(grids.values()):
        raise ValueError(f"lrs, seeds: expected at least one learning rate per activation and one "
                         f"seed, got lrs={grids}, seeds={list(seeds)}")
    runs, best_lr, epochs = [], {}, {}
    for name, act in items:
        best = None
        budget = dict(train_kwargs)
        for lr in grids[name]:
            rs = [train_mlp(X, y, act, lr=lr, seed=s, stop_error=target, **budget) for s in seeds]
            for r in rs:
                r.activation = name
            runs += rs
            e = np.array([r.epochs_to(target) for r in rs])
            if best is None or np.median(e) < np.median(best[1]):
                best = (lr, e)
                if np.isfinite(np.median(e)):
                    budget["max_epochs"] = min(budget.get("max_epochs", 20), 2 * float(np.median(e)))
        best_lr[name], epochs[name] = best
    return RaceResult(target, runs, best_lr, epochs)


def plot_race(result: RaceResult, *,
              ax: matplotlib.axes.Axes | None = None) -> matplotlib.figure.Figure:
    """Training error against epochs for every seed at each activation's chosen learning rate.

    Parameters
    ----------
    result : RaceResult
        From :func:`race`.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One line per (activation, seed) on a log scale, the target error as a dashed line, and
        the title with the tanh / ReLU ratio of epochs when both ran.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    colors = dict(zip(result.best_lr, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for name, lr in result.best_lr.items():
        for i, r in enumerate(x for x in result.runs if x.activation == name and x.lr == lr):
            ax.plot(r.epochs, np.maximum(r.errors, 1e-3), color=colors[name], alpha=0.8,
                    label=f"{name} (lr {lr:g}): median {result.median_epochs(name):.2f} epochs"
                    if i == 0 else None)
    ax.axhline(result.target, color="k", ls="--", lw=1, label=f"target {result.target:.0%}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training error")
    ax.set_title(f"epochs to {result.target:.0%} training error: tanh / ReLU = "
                 f"{result.ratio():.2f}" if {"tanh", "relu"} <= set(result.best_lr) else "training error")
    ax.legend(fontsize=8)
    return ax.figure
