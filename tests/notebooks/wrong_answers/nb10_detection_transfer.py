"""Wrong answers injected into notebook 10's exercises: each check must name the mistake and the
notebook must run on (see tests/notebooks/test_wrong_answers.py)."""

NOTEBOOK = "10_detection_transfer"
WRONG = [
    dict(anchor="all_negative_accuracy = OTHER_PIXELS",
         code="all_negative_accuracy = 1 - MITOSIS_PIXELS / OTHER_PIXELS",
         expect=["❌", "non-mitosis pixels only"]),
    dict(anchor="def class_weights(",
         code="y = np.asarray(y)\n"
              "return {c: float(len(y) / np.sum(y == c)) for c in (0, 1)}",
         expect=["❌", "twice too large"]),
    dict(anchor="def focal_loss(",
         code="y_true = np.asarray(y_true, dtype=float)\n"
              "p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)\n"
              "p_t = np.where(y_true == 1, p, 1 - p)\n"
              "alpha_t = np.where(y_true == 1, alpha, 1 - alpha)\n"
              "return -alpha_t * (1 - p) ** gamma * np.log(p_t)",
         expect=["❌", "instead of p_t"]),
    dict(anchor="def threshold_for_recall(",
         code="positives = np.sort(np.asarray(scores, dtype=float)[np.asarray(y_true) == 1])[::-1]\n"
              "k = math.ceil(target_recall * positives.size - 1e-9)\n"
              "return float(positives[min(k, positives.size - 1)])",
         expect=["❌", "off by one"]),
    dict(anchor="def non_max_suppression(",
         code="centres = np.asarray(centres, dtype=float)\n"
              "order = np.argsort(-np.asarray(scores, dtype=float), kind='stable')\n"
              "keep = []\n"
              "for rank, i in enumerate(order):\n"
              "    earlier = centres[order[:rank]]          # every higher-scoring candidate\n"
              "    if not np.any(np.linalg.norm(earlier - centres[i], axis=1) <= radius):\n"
              "        keep.append(i)\n"
              "return np.array(keep, dtype=np.int64)",
         expect=["❌", "suppressed candidate suppressed another"]),
    dict(anchor="def match_detections(",
         code="detections = np.asarray(detections, dtype=float).reshape(-1, 2)\n"
              "truths = np.asarray(truths, dtype=float).reshape(-1, 2)\n"
              "pairs = []\n"
              "for i, d in enumerate(detections):\n"
              "    distances = np.linalg.norm(truths - d, axis=1)\n"
              "    if len(distances) and distances.min() <= radius:\n"
              "        pairs.append((i, int(np.argmin(distances))))\n"
              "return np.array(pairs, dtype=np.int64).reshape(-1, 2)",
         expect=["❌", "matched by two detections"]),
    dict(anchor="def with_new_head(",
         code="for layer in pretrained.layers:\n"
              "    if isinstance(layer, keras.layers.Conv2D):\n"
              "        layer.trainable = False              # batch norm left trainable\n"
              "features = keras.Model(pretrained.input, pretrained.get_layer('features_flatten').output)\n"
              "inputs = keras.Input(pretrained.input_shape[1:])\n"
              "x = keras.layers.Dropout(0.25)(features(inputs))\n"
              "x = keras.layers.Dense(32, activation='relu')(x)\n"
              "return keras.Model(inputs, keras.layers.Dense(1, activation='sigmoid')(x))",
         expect=["❌", "batch-normalisation layers"]),
]
