"""Wrong answers injected into notebook 09's exercises: each check must name the mistake and the
notebook must go on (harness: tests/notebooks/test_wrong_answers.py)."""

NOTEBOOK = "09_segmentation"

WRONG = [
    # zero padding: the border windows see a black frame
    dict(anchor="def extract_window(",
         code="half = size // 2\n"
              "padded = np.pad(image, half)\n"
              "return padded[row:row + size, col:col + size]\n",
         expect=["❌", "zero padding"]),
    # pixels drawn uniformly: right shapes and labels, but mostly background windows
    dict(anchor="def training_windows(",
         code="rng = np.random.default_rng(seed)\n"
              "per_image = n_windows // len(images)\n"
              "windows, labels = [], []\n"
              "for image, mask in zip(images, masks):\n"
              "    flat = rng.integers(0, mask.size, per_image)\n"
              "    coords = np.stack(np.unravel_index(flat, mask.shape), axis=1)\n"
              "    windows.append(seg.extract_windows(image, coords, size))\n"
              "    labels.append(mask[coords[:, 0], coords[:, 1]])\n"
              "return (np.concatenate(windows)[..., None].astype(np.float32),\n"
              "        np.concatenate(labels).astype(np.float32))\n",
         expect=["❌", "not balanced"]),
    # off by one in the size of the first layer's map
    dict(anchor="conv1_repeats = (WINDOW",
         code="conv1_repeats = (WINDOW - 4) ** 2\n",
         expect=["❌", "off by one"]),
    # stride-1 pooling but no dilation: positions not aligned, output map too big
    dict(anchor="def to_fully_convolutional(",
         code="get = window_model.get_layer\n"
              "k = get('conv3').output.shape[1]\n"
              "inputs = keras.Input((None, None, 1))\n"
              "x = L.Conv2D(get('conv1').filters, 4, activation='relu', name='conv1')(inputs)\n"
              "x = L.MaxPooling2D(2, strides=1)(x)\n"
              "x = L.Conv2D(get('conv2').filters, 3, activation='relu', name='conv2')(x)\n"
              "x = L.Conv2D(get('conv3').filters, 3, activation='relu', name='conv3')(x)\n"
              "x = L.Conv2D(get('hidden').units, k, activation='relu', name='hidden')(x)\n"
              "outputs = L.Conv2D(1, 1, activation='sigmoid', name='output')(x)\n"
              "model = keras.Model(inputs, outputs)\n"
              "for name in ('conv1', 'conv2', 'conv3'):\n"
              "    model.get_layer(name).set_weights(get(name).get_weights())\n"
              "for name in ('hidden', 'output'):\n"
              "    kernel, bias = get(name).get_weights()\n"
              "    layer = model.get_layer(name)\n"
              "    layer.set_weights([kernel.reshape(layer.kernel.shape), bias])\n"
              "return model\n",
         expect=["❌", "dilation_rate=2"]),
    # the decoder forgets the skip connections: right output shape, coarse answers
    dict(anchor="def build_unet(",
         code="def block(x, filters):\n"
              "    x = L.Conv2D(filters, 3, padding='same', activation='relu')(x)\n"
              "    return L.Conv2D(filters, 3, padding='same', activation='relu')(x)\n"
              "\n"
              "inputs = keras.Input((None, None, 1))\n"
              "x = inputs\n"
              "for level in range(depth):\n"
              "    x = block(x, width * 2 ** level)\n"
              "    x = L.MaxPooling2D(2)(x)\n"
              "x = block(x, width * 2 ** depth)\n"
              "for level in reversed(range(depth)):\n"
              "    x = L.UpSampling2D(2)(x)\n"
              "    x = L.Conv2D(width * 2 ** level, 2, padding='same', activation='relu')(x)\n"
              "    x = block(x, width * 2 ** level)\n"
              "outputs = L.Conv2D(1, 1, activation='sigmoid')(x)\n"
              "return keras.Model(inputs, outputs)\n",
         expect=["❌", "skip connection is missing"]),
    # two empty masks scored 0.0 instead of 1.0
    dict(anchor="def dice_score(",
         code="pred = np.asarray(prob) > threshold\n"
              "target = np.asarray(target, dtype=bool)\n"
              "total = pred.sum() + target.sum()\n"
              "if total == 0:\n"
              "    return 0.0\n"
              "return float(2.0 * np.logical_and(pred, target).sum() / total)\n",
         expect=["❌", "must score 1.0"]),
    # peak_local_max's default drops the peaks of nuclei at the image border
    dict(anchor="def split_touching(",
         code="mask = np.asarray(mask, dtype=bool)\n"
              "distance = ndi.distance_transform_edt(mask)\n"
              "peaks = peak_local_max(distance, min_distance=min_distance, labels=label(mask))\n"
              "markers = np.zeros(mask.shape, dtype=np.int32)\n"
              "markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)\n"
              "return watershed(-distance, markers, mask=mask)\n",
         expect=["❌", "exclude_border=False"]),
]
