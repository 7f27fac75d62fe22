"""Keras model builders for notebook 06 (and any notebook that wants a small classifier):
LeNet-5, an MLP, a generic small CNN, the ``RandomRot90`` augmentation layer, and tools to look
inside a model (parameters per layer, feature maps).

Keras is imported inside the functions, so ``import cnncourse.models`` stays cheap.

Examples
--------
>>> model = lenet5()
>>> model.count_params()
61706
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from cnncourse._validate import integer

if TYPE_CHECKING:  # annotations only
    import keras

__all__ = ["lenet5", "LENET5_PARAMS", "mlp", "small_cnn", "augmentation", "RandomRot90",
           "layer_params", "feature_maps"]

#: Parameters of LeNet-5 per layer for a 32x32x1 input and 10 classes (fully connected C3,
#: as in Keras re-implementations): 61,706 in all.
LENET5_PARAMS = {"C1": 156, "S2": 0, "C3": 2416, "S4": 0, "C5": 48120, "F6": 10164, "output": 850}


def _keras():
    from cnncourse.device import import_keras

    return import_keras()


def _shape(input_shape, name="input_shape") -> tuple[int, int, int]:
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in input_shape)):
        raise ValueError(f"{name}: expected (height, width, channels) of positive ints, "
                         f"got {input_shape!r}")
    return tuple(int(v) for v in input_shape)


def _n_classes(n_classes) -> int:
    return integer(n_classes, "n_classes", minimum=1)


def _head(keras, x, n_classes):
    """Output layer: one sigmoid unit for ``n_classes == 1``, else a softmax over the classes."""
    if n_classes == 1:
        return keras.layers.Dense(1, activation="sigmoid", name="output")(x)
    return keras.layers.Dense(n_classes, activation="softmax", name="output")(x)


def lenet5(input_shape: tuple[int, int, int] = (32, 32, 1), n_classes: int = 10, *,
           activation: str = "tanh", pooling: str = "avg", name: str = "lenet5") -> keras.Model:
    """LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998) in Keras.

    ======  ==========================================  ==========================
    layer   what                                        output for 32x32x1 input
    ======  ==========================================  ==========================
    C1      6 filters 5x5, 'valid'                      28x28x6
    S2      2x2 pooling (subsampling), stride 2         14x14x6
    C3      16 filters 5x5 over all 6 maps              10x10x16
    S4      2x2 pooling, stride 2                       5x5x16
    C5      120 filters 5x5 (covers the whole map)      1x1x120
    F6      84 units (after flattening)                 84
    output  ``n_classes`` units, softmax                n_classes
    ======  ==========================================  ==========================

    61,706 parameters for a 32x32x1 input and 10 classes (:data:`LENET5_PARAMS`). The 1998 net
    differed in details that change the count: C3 connected each of its 16 maps to only some of
    S2's maps (1,516 parameters instead of 2,416), S2 and S4 had a trainable coefficient and bias
    per map, and the output layer was made of RBF units.

    Parameters
    ----------
    input_shape : (int, int, int)
        (height, width, channels); at least 32x32 so that C5's 5x5 kernel fits (a larger input
        gives C5 maps larger than 1x1 and a larger F6).
    n_classes : int
        Output units: softmax over ``n_classes`` (>= 2), or one sigmoid unit for 1.
    activation : str
        Of C1, C3, C5, F6: "tanh" as in 1998; "relu" trains faster.
    pooling : {"avg", "max"}
        S2 and S4: "avg" (subsampling, as in 1998) or "max".
    name : str

    Returns
    -------
    keras.Model
        Uncompiled; layers named "C1", "S2", "C3", "S4", "C5", "flatten", "F6", "output".
        Input (N, H, W, C) float, output (N, n_classes) float32 probabilities ((N, 1) for
        ``n_classes=1``).

    Raises
    ------
    ValueError
        ``input_shape`` not 3 positive ints or smaller than 32x32; ``n_classes < 1``; an
        unknown ``pooling``.

    Examples
    --------
    >>> [(layer.name, layer.count_params()) for layer in lenet5().layers[1:4]]
    [('C1', 156), ('S2', 0), ('C3', 2416)]
    """
    keras = _keras()
    h, w, c = _shape(input_shape)
    n_classes = _n_classes(n_classes)
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling: expected 'avg' or 'max', got {pooling!r}")
    if min(h, w) < 32:
        raise ValueError(f"input_shape: LeNet-5 needs at least 32x32 pixels (C5's 5x5 kernel must "
                         f"fit the 5x5 maps of S4), got {h}x{w}; pad the images (LeCun padded "
                         "28x28 digits to 32x32)")
    pool = keras.layers.AveragePooling2D if pooling == "avg" else keras.layers.MaxPooling2D
    inputs = keras.Input(shape=(h, w, c), name="image")
    x = keras.layers.Conv2D(6, 5, activation=activation, name="C1")(inputs)
    x = pool(2, name="S2")(x)
    x = keras.layers.Conv2D(16, 5, activation=activation, name="C3")(x)
    x = pool(2, name="S4")(x)
    x = keras.layers.Conv2D(120, 5, activation=activation, name="C5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(84, activation=activation, name="F6")(x)
    return keras.Model(inputs, _head(keras, x, n_classes), name=name)


def mlp(input_shape: Sequence[int], hidden: Sequence[int] = (20,), n_classes: int = 2, *,
        activation: str = "relu", dropout: float = 0.0, name: str = "mlp") -> keras.Model:
    """Multilayer perceptron on flattened images: Flatten -> Dense(h) for h in ``hidden`` ->
    output (softmax, or one sigmoid unit for ``n_classes == 1``).

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one input, e.g. (32, 32, 3).
    hidden : sequence of int
        Units of each hidden layer.
    n_classes : int
        Softmax over ``n_classes`` (>= 2), or one sigmoid unit for 1.
    activation : str
        Of the hidden layers.
    dropout : float in [0, 1)
        Dropout after each hidden layer (0: none).
    name : str

    Returns
    -------
    keras.Model
        Uncompiled. ``(prod(input_shape) + 1) * hidden[0] + ... + (hidden[-1] + 1) * n_out``
        parameters.

    Raises
    ------
    ValueError
        ``input_shape`` not a tuple of positive ints; a hidden size < 1; ``dropout`` outside
        [0, 1); ``n_classes < 1``.

    Examples
    --------
    >>> mlp((4, 4, 1), hidden=(8,), n_classes=2).count_params()   # (16 + 1) * 8 + (8 + 1) * 2
    154
    """
    keras = _keras()
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in input_shape)):
        raise ValueError(f"input_shape: expected a tuple of positive ints, got {input_shape!r}")
    hidden = list(hidden)
    if not all(isinstance(u, (int, np.integer)) and u >= 1 for u in hidden):
        raise ValueError(f"hidden: expected positive ints (units per layer), got {hidden!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout!r}")
    n_classes = _n_classes(n_classes)
    inputs = keras.Input(shape=tuple(int(v) for v in input_shape), name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden, 1):
        x = keras.layers.Dense(int(units), activation=activation, name=f"dense{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    return keras.Model(inputs, _head(keras, x, n_classes), name=name)


def small_cnn(input_shape: tuple[int, int, int], n_classes: int = 2, *,
              filters: Sequence[int] = (16, 32), kernel_size: int = 3, dense: int = 64,
              dropout: float = 0.0, pooling: str = "max", batch_norm: bool = False,
              activation: str = "relu", name: str = "small_cnn") -> keras.Model:
    """A generic small CNN: per entry of ``filters`` a block Conv(k, 'same') [-> BatchNorm] ->
    activation -> 2x2 pooling; then global average pooling, Dense(``dense``) [-> Dropout],
    output.

    Parameters
    ----------
    input_shape : (int, int, int)
        (height, width, channels); must allow ``len(filters)`` halvings.
    filters : sequence of int
        Filters per block.
    kernel_size : int
    dense : int
        Units of the hidden dense layer (0: none).
    dropout : float in [0, 1)
    pooling : {"max", "avg"}
    batch_norm : bool
        BatchNormalization after each convolution (which then has no bias).
    activation : str
    n_classes : int
        Softmax over ``n_classes`` (>= 2), or one sigmoid unit for 1.
    name : str

    Returns
    -------
    keras.Model
        Uncompiled; blocks named "conv1", "pool1", ...; output (N, n_classes) probabilities.

    Raises
    ------
    ValueError
        ``input_shape`` not 3 positive ints or too small for ``len(filters)`` poolings; empty
        or non-positive ``filters``; an unknown ``pooling``; ``dropout`` outside [0, 1);
        ``n_classes < 1``.

    Examples
    --------
    >>> model = small_cnn((16, 16, 1), filters=(4, 8), dense=0)
    >>> model.output_shape, model.get_layer("pool2").output.shape
    ((None, 2), (None, 4, 4, 8))
    """
    keras = _keras()
    h, w, c = _shape(input_shape)
    n_classes = _n_classes(n_classes)
    filters = list(filters)
    if not filters or not all(isinstance(f, (int, np.integer)) and f >= 1 for f in filters):
        raise ValueError(f"filters: expected a non-empty sequence of positive ints, got {filters!r}")
    if min(h, w) < 2 ** len(filters):
        raise ValueError(f"input_shape: {h}x{w} is too small for {len(filters)} 2x2 poolings")
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling: expected 'avg' or 'max', got {pooling!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout!r}")
    pool = keras.layers.AveragePooling2D if pooling == "avg" else keras.layers.MaxPooling2D
    inputs = keras.Input(shape=(h, w, c), name="image")
    x = inputs
    for i, f in enumerate(filters, 1):
        x = keras.layers.Conv2D(int(f), kernel_size, padding="same", use_bias=not batch_norm,
                                name=f"conv{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.Activation(activation, name=f"act{i}")(x)
        x = pool(2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dense:
        x = keras.layers.Dense(int(dense), activation=activation, name="dense")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(keras, x, n_classes), name=name)


# --------------------------------------------------------------------------------------------
# Augmentation


def augmentation(*, flips: bool = True, rot90: bool = True, seed: int | None = 0,
                 name: str = "augment") -> keras.Sequential:
    """The 8 symmetries of a square as random Keras layers (active in training only):
    ``RandomFlip("horizontal_and_vertical")`` and :class:`RandomRot90`.

    Parameters
    ----------
    flips : bool
        Random horizontal and vertical flips (layer "flip").
    rot90 : bool
        Random multiples of 90 degrees (layer "rot90"; square images only).
    seed : int, optional
        Seed of the flips; the rotations use ``seed + 1``.
    name : str

    Returns
    -------
    keras.Sequential
        Put it first in a model: ``keras.Sequential([keras.Input(shape), augmentation(), net])``.
        Input and output (N, H, W, C), unchanged at inference.

    Raises
    ------
    ValueError
        Both ``flips`` and ``rot90`` off.

    Examples
    --------
    >>> [layer.name for layer in augmentation().layers]
    ['flip', 'rot90']
    """
    keras = _keras()
    layers = []
    if flips:
        layers.append(keras.layers.RandomFlip("horizontal_and_vertical", seed=seed, name="flip"))
    if rot90:
        layers.append(_rot90()(seed=None if seed is None else seed + 1, name="rot90"))
    if not layers:
        raise ValueError("flips, rot90: at least one augmentation must be on")
    return keras.Sequential(layers, name=name)


# --------------------------------------------------------------------------------------------
# Looking inside


def layer_params(model: keras.Model) -> dict[str, int]:
    """``{layer name: number of parameters}`` of a Keras model, in layer order (0 for pooling,
    flatten, ...); the values sum to ``model.count_params()``.

    Parameters
    ----------
    model : keras.Model
        Built (a functional model, or one that has seen an input).

    Returns
    -------
    dict of str -> int
        Every layer except the input layer.

    Examples
    --------
    >>> list(layer_params(lenet5()).items())[:3]
    [('C1', 156), ('S2', 0), ('C3', 2416)]
    """
    return {layer.name: int(layer.count_params()) for layer in model.layers
            if layer.__class__.__name__ != "InputLayer"}


def feature_maps(model: keras.Model, x: np.ndarray,
                 layers: Sequence[str | keras.layers.Layer] | None = None
                 ) -> dict[str, np.ndarray]:
    """Outputs of some layers of a functional Keras model for the input batch ``x``.

    Parameters
    ----------
    model : keras.Model
        A functional model (built with ``keras.Input``).
    x : ndarray, shape (N, ...) matching the model's input
    layers : sequence of str or keras layers, optional
        Default: every Conv2D layer.

    Returns
    -------
    dict
        ``{layer name: ndarray (N, H_l, W_l, C_l)}`` (float32 for a float32 model), in the
        order of ``layers``.

    Raises
    ------
    ValueError
        No Conv2D layer when ``layers`` is not given; a name that is not a layer of the model.
    """
    keras = _keras()
    if layers is None:
        layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        if not layers:
            raise ValueError("model: has no Conv2D layer; name the layers to read")
    chosen = []
    for layer in layers:
        if isinstance(layer, str):
            try:
                layer = model.get_layer(layer)
            except ValueError:
                raise ValueError(f"layers: {layer!r} is not a layer of {model.name!r}; it has "
                                 f"{[lay.name for lay in model.layers]}") from None
        chosen.append(layer)
    probe = keras.Model(model.inputs, [layer.output for layer in chosen])
    outputs = probe.predict(np.asarray(x), verbose=0)
    if len(chosen) == 1:
        outputs = [outputs]
    return {layer.name: np.asarray(out) for layer, out in zip(chosen, outputs)}


def _rot90():
    from cnncourse.layers import RandomRot90

    return RandomRot90


def __getattr__(name: str):
    # RandomRot90 is a module-level class of cnncourse.layers (registered for .keras files);
    # handed out from here on first use, so importing cnncourse.models stays cheap.
    if name == "RandomRot90":
        return _rot90()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
