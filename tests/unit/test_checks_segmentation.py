"""Checkers of notebook 09: a correct, a stub and typical wrong answers (the mistake is named)."""
import numpy as np

from cnncourse.checks import segmentation as cs


def test_extract_window(last, stub):
    assert cs.extract_window(cs._extract_window) is cs._extract_window
    assert last().passed
    assert cs.extract_window(stub) is cs._extract_window and last().status == "not done"
    for wrong, words in [(cs._window_no_offset, "PADDED image"), (cs._window_zero_padding, "zero padding"),
                         (cs._window_off_by_one, "one pixel short"), (cs._window_no_padding, "no padding")]:
        assert cs.extract_window(wrong) is cs._extract_window
        assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_dice_score(last, stub):
    from cnncourse.segmentation import dice

    def with_library(prob, target, threshold=0.5):
        return dice(np.asarray(prob) > threshold, np.asarray(target) > 0)

    assert cs.dice_score(with_library) is with_library and last().passed
    cs.dice_score(stub)
    assert last().status == "not done"
    for wrong, words in [(cs._dice_no_two, "factor 2"), (cs._dice_iou, "IoU"),
                         (cs._dice_soft, "without thresholding")]:
        cs.dice_score(wrong)
        assert last().status == "failed" and words in last().message, last().message

    def nan_when_empty(prob, target, threshold=0.5):
        pred, target = np.asarray(prob) > threshold, np.asarray(target).astype(bool)
        with np.errstate(invalid="ignore"):
            return 2 * np.sum(pred & target) / (np.sum(pred) + np.sum(target))

    cs.dice_score(nan_when_empty)
    assert last().status == "failed" and "0/0 = NaN" in last().message


def test_conv1_repeats(last):
    assert cs.conv1_repeats(14 ** 2, window=17) == 196 and last().passed
    assert cs.conv1_repeats(15 ** 2, window=17, kernel=3) == 225 and last().passed
    assert cs.conv1_repeats(..., window=17) == 196 and last().status == "not done"
    for wrong, words in [(17 ** 2, "not 17x17"), (13 ** 2, "off by one"), (14, "two dimensions"),
                         (1, "not 1")]:
        assert cs.conv1_repeats(wrong, window=17) == 196
        assert last().status == "failed" and words in last().message, last().message


def test_split_touching(last, stub):
    from skimage.measure import label

    from cnncourse.segmentation import separate_instances

    def with_library(mask, min_distance=5):
        return separate_instances(mask, min_distance=min_distance, smooth=0)

    assert cs.split_touching(with_library) is with_library and last().passed, last().message
    cs.split_touching(stub)
    assert last().status == "not done"
    cs.split_touching(lambda mask, min_distance=5: label(mask))
    assert last().status == "failed" and "connected component" in last().message

    def same_marker(mask, min_distance=5):
        from scipy import ndimage as ndi
        from skimage.feature import peak_local_max
        from skimage.segmentation import watershed

        d = ndi.distance_transform_edt(mask)
        markers = np.zeros(mask.shape, int)
        markers[tuple(peak_local_max(d, min_distance=min_distance, labels=label(mask)).T)] = 1
        return watershed(-d, markers, mask=mask)

    cs.split_touching(same_marker)
    assert last().status == "failed" and "same number" in last().message

    def no_mask(mask, min_distance=5):
        from scipy import ndimage as ndi
        from skimage.feature import peak_local_max
        from skimage.segmentation import watershed

        d = ndi.distance_transform_edt(mask)
        peaks = peak_local_max(d, min_distance=min_distance, labels=label(mask))
        markers = np.zeros(mask.shape, int)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        return watershed(-d, markers)

    cs.split_touching(no_mask)
    assert last().status == "failed" and "mask=mask" in last().message

    def no_exclude_border(mask, min_distance=5):
        from scipy import ndimage as ndi
        from skimage.feature import peak_local_max
        from skimage.segmentation import watershed

        d = ndi.distance_transform_edt(mask)
        peaks = peak_local_max(d, min_distance=min_distance, labels=label(mask))
        markers = np.zeros(mask.shape, int)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        return watershed(-d, markers, mask=mask)

    cs.split_touching(no_exclude_border)
    assert last().status == "failed" and "exclude_border=False" in last().message, last().message


def test_dice_score_empty_masks_scored_zero(last):
    def zero_when_empty(prob, target, threshold=0.5):
        pred, target = np.asarray(prob) > threshold, np.asarray(target).astype(bool)
        total = pred.sum() + target.sum()
        return 0.0 if total == 0 else float(2 * np.sum(pred & target) / total)

    cs.dice_score(zero_when_empty)
    assert last().status == "failed" and "must score 1.0" in last().message, last().message
    assert "soft" not in last().message


# --------------------------------------------------------------------------------------------
# the training-window sampler


def sampler(images, masks, n_windows, size, seed=0, bad=None):
    rng = np.random.default_rng(None if bad == "seed" else seed)
    per = n_windows // len(images)
    windows, labels = [], []
    for image, mask in zip(images, masks):
        if bad == "uniform":
            flat = rng.integers(0, mask.size, per)
        else:
            n_fg = per // 2 if mask.any() or bad == "no_empty_guard" else 0
            flat = np.concatenate([rng.choice(np.flatnonzero(mask), n_fg),
                                   rng.choice(np.flatnonzero(~mask), per - n_fg)])
        rows, cols = np.unravel_index(flat, mask.shape)
        half = size // 2
        padded = np.pad(image, half, mode="constant" if bad == "zero" else "reflect")
        for r, c in zip(rows, cols):
            windows.append(padded[r:r + size, c:c + size])
            labels.append(mask[min(c, mask.shape[0] - 1), min(r, mask.shape[1] - 1)]
                          if bad == "label" else mask[r, c])
        if bad == "first":
            windows, labels = windows * len(images), labels * len(images)
            break
    return np.array(windows, np.float32)[..., None], np.array(labels, np.float32)


def test_training_windows(last, stub):
    def crashes_on_empty_mask(images, masks, n_windows, size, seed=0):
        return sampler(images, masks, n_windows, size, seed=seed, bad="no_empty_guard")

    cs.training_windows(crashes_on_empty_mask)
    assert last().status == "error" and "WITHOUT foreground" in last().message, last().message

    def right(*args, **kwargs):
        return sampler(*args, **kwargs)

    assert cs.training_windows(right) is right and last().passed, last().message
    assert cs.training_windows(stub) is cs._training_windows and last().status == "not done"
    for bad, words in [("uniform", "not balanced"), ("zero", "zero padding"),
                       ("label", "centre pixel"), ("first", "every image"), ("seed", "same seed")]:
        cs.training_windows(lambda *a, bad=bad, **k: sampler(*a, bad=bad, **k))
        assert last().status == "failed" and words in last().message, (bad, last().message)
    # calling the library's reference instead of writing the sampler is named
    from cnncourse import segmentation as seg

    cs.training_windows(lambda images, masks, n, size, seed=0: seg._training_windows(
        images, masks, n, size, seed=seed, foreground_fraction=0.5))
    assert last().status == "failed" and "write it yourself" in last().message, last().message
    cs.training_windows(lambda images, masks, n, size, seed=0: (seg._sample_pixels(masks[0], n), 0))
    assert last().status == "failed" and "_sample_pixels" in last().message, last().message


# --------------------------------------------------------------------------------------------
# the U-Net


def unet(depth=2, width=8, skip=True, axis=-1, pad="same", sig=1, order="skip_first", self_skip=False):
    import keras

    L = keras.layers

    def block(x, f):
        x = L.Conv2D(f, 3, padding=pad, activation="relu")(x)
        return L.Conv2D(f, 3, padding=pad, activation="relu")(x)

    inputs = keras.Input((None, None, 1))
    x, skips = inputs, []
    for level in range(depth):
        x = block(x, width * 2 ** level)
        skips.append(x)
        x = L.MaxPooling2D(2)(x)
    x = block(x, width * 2 ** depth)
    for level in reversed(range(depth)):
        x = L.UpSampling2D(2)(x)
        x = L.Conv2D(width * 2 ** level, 2, padding="same", activation="relu")(x)
        if skip:
            pair = [x, x] if self_skip else ([skips[level], x] if order == "skip_first"
                                             else [x, skips[level]])
            x = L.Concatenate(axis=axis)(pair)
        x = block(x, width * 2 ** level)
    x = L.Conv2D(1, 1, activation="sigmoid" if sig else None)(x)
    if sig == 2:
        x = L.Activation("sigmoid")(x)
    return keras.Model(inputs, x)


def test_build_unet(last, stub):
    from cnncourse.segmentation import _build_unet

    for kw in [{}, {"order": "x_first"}]:
        fn = lambda depth, width, kw=kw: unet(depth, width, **kw)  # noqa: E731
        assert cs.build_unet(fn) is fn and last().passed, (kw, last().message)
    assert cs.build_unet(stub) is _build_unet and last().status == "not done"
    for kw, words in [({"skip": False}, "skip connection is missing"), ({"axis": 1}, "wrong axis"),
                      ({"pad": "valid"}, "padding='same'"), ({"sig": 0}, "sigmoid is missing"),
                      ({"sig": 2}, "applied twice"),
                      ({"self_skip": True}, "does not carry the encoder")]:
        assert cs.build_unet(lambda depth, width, kw=kw: unet(depth, width, **kw)) is _build_unet
        assert last().status == "failed" and words in last().message, (kw, last().message)
    from cnncourse import segmentation as seg

    cs.build_unet(lambda depth, width: seg._build_unet(depth, width))
    assert last().status == "failed" and "write it yourself" in last().message, last().message
    cs.build_unet(seg._build_unet)  # the reference itself, handed in as the answer
    assert last().status == "failed" and "write it yourself" in last().message, last().message


# --------------------------------------------------------------------------------------------
# the window classifier made fully convolutional


def converted(window_model, pool_stride=1, dilation=2, sig=1, copy=True, order="ok"):
    import keras

    L = keras.layers
    get = window_model.get_layer
    k = get("conv3").output.shape[1]
    inputs = keras.Input((None, None, 1))
    x = L.Conv2D(get("conv1").filters, 4, activation="relu", name="conv1")(inputs)
    x = L.MaxPooling2D(2, strides=pool_stride)(x)
    x = L.Conv2D(get("conv2").filters, 3, dilation_rate=dilation, activation="relu", name="conv2")(x)
    x = L.Conv2D(get("conv3").filters, 3, dilation_rate=dilation, activation="relu", name="conv3")(x)
    x = L.Conv2D(get("hidden").units, k, dilation_rate=dilation, activation="relu", name="hidden")(x)
    x = L.Conv2D(1, 1, activation="sigmoid" if sig else None, name="output")(x)
    if sig == 2:
        x = L.Activation("sigmoid")(x)
    model = keras.Model(inputs, x)
    if copy:
        for name in ("conv1", "conv2", "conv3"):
            model.get_layer(name).set_weights(get(name).get_weights())
        for name in ("hidden", "output"):
            kernel, bias = get(name).get_weights()
            kh, kw, c, u = model.get_layer(name).kernel.shape
            kernel = (kernel.reshape(kh, kw, c, u) if order == "ok"
                      else kernel.reshape(c, kh, kw, u).transpose(1, 2, 0, 3))
            model.get_layer(name).set_weights([kernel, bias])
    return model


def test_to_fully_convolutional(last, stub):
    from cnncourse.segmentation import _to_fully_convolutional

    assert cs.to_fully_convolutional(converted) is converted and last().passed, last().message
    assert cs.to_fully_convolutional(stub) is _to_fully_convolutional
    assert last().status == "not done"
    for kw, words in [({"pool_stride": 2, "dilation": 1}, "stride 2"),
                      ({"dilation": 1}, "dilation_rate=2"), ({"sig": 0}, "sigmoid is missing"),
                      ({"sig": 2}, "applied twice"), ({"copy": False}, "not copied"),
                      ({"order": "bad"}, "wrong order")]:
        fn = lambda m, kw=kw: converted(m, **kw)  # noqa: E731
        assert cs.to_fully_convolutional(fn) is _to_fully_convolutional
        assert last().status == "failed" and words in last().message, (kw, last().message)
    from cnncourse import segmentation as seg

    cs.to_fully_convolutional(lambda m: seg._to_fully_convolutional(m))
    assert last().status == "failed" and "write it yourself" in last().message, last().message


def unet_variant(depth, width, *, pooling="MaxPooling2D", dropout=False, split=False):
    """`unet` with another pooling layer, a Dropout after each pooling, or each convolution's
    ReLU as its own layer (equivalent)."""
    import keras

    L = keras.layers

    def conv(x, f, k=3):
        if split:
            return L.ReLU()(L.Conv2D(f, k, padding="same")(x))
        return L.Conv2D(f, k, padding="same", activation="relu")(x)

    inputs = keras.Input((None, None, 1))
    x, skips = inputs, []
    for level in range(depth):
        x = conv(conv(x, width * 2 ** level), width * 2 ** level)
        skips.append(x)
        x = getattr(L, pooling)(2)(x)
        if dropout:
            x = L.Dropout(0.2)(x)
    x = conv(conv(x, width * 2 ** depth), width * 2 ** depth)
    for level in reversed(range(depth)):
        x = conv(L.UpSampling2D(2)(x), width * 2 ** level, 2)
        x = L.Concatenate()([skips[level], x])
        x = conv(conv(x, width * 2 ** level), width * 2 ** level)
    return keras.Model(inputs, L.Conv2D(1, 1, padding="same", activation="sigmoid")(x))


def test_build_unet_names_a_missing_or_extra_layer(last):
    from cnncourse.segmentation import _build_unet

    split = lambda depth, width: unet_variant(depth, width, split=True)  # noqa: E731
    assert cs.build_unet(split) is split and last().passed, last().message
    # behaves like the reference (dropout is off at test time), but the exercise lists no dropout
    assert cs.build_unet(lambda depth, width: unet_variant(depth, width, dropout=True)) is _build_unet
    assert last().status == "failed" and "extra: Dropout(0.2) after MaxPooling2D(2)" in last().message, \
        last().message
    cs.build_unet(lambda depth, width: unet_variant(depth, width, pooling="AveragePooling2D"))
    assert last().status == "failed", last().message
    assert "missing: MaxPooling2D(2) after ReLU (found AveragePooling2D(2) there)" in last().message, \
        last().message
