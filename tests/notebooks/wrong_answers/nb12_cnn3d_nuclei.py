"""Subtle wrong answers for the exercises of notebook 12 (right shapes, wrong behaviour)."""
NOTEBOOK = "12_cnn3d_nuclei"
WRONG = [
    dict(anchor="def conv3d_params(",
         code="return kernel_size ** 3 * in_channels * filters",
         expect=["❌", "biases are missing"]),
    dict(anchor="activation_mib = ",
         code="activation_mib = 8 * 100 ** 3 * 16 * 4 / 1e6",
         expect=["❌", "MB"]),
    dict(anchor="def sphericity(",
         code="return (6 * np.asarray(volume, float)) ** (2 / 3) / np.asarray(area, float)",
         expect=["❌", "pi ** (1 / 3)"]),
    dict(anchor="def heldout_auc(",
         code=("model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))\n"
               "model.fit(X_train, y_train)\n"
               "return roc_auc_score(y_test, model.predict(X_test))"),
         expect=["❌", "0/1 predictions"]),
    dict(anchor="def build_cnn3d(",
         code=("inputs = keras.Input(shape=input_shape)\n"
               "x = inputs\n"
               "for f in filters:\n"
               "    x = layers.Conv3D(f, 3, padding='same', use_bias=False)(x)\n"
               "    x = layers.BatchNormalization(momentum=0.9)(x)\n"
               "    x = layers.ReLU()(x)\n"
               "    x = layers.MaxPooling3D(2)(x)\n"
               "x = layers.GlobalAveragePooling3D()(x)\n"
               "x = layers.Dropout(dropout)(x)\n"
               "return keras.Model(inputs, layers.Dense(1)(x))"),
         expect=["❌", "sigmoid is missing"]),
    dict(anchor="def rotation_matrix(",
         code=("total = np.eye(3)\n"
               "for axis, degrees in enumerate(angles):\n"
               "    i, j = [a for a in range(3) if a != axis]\n"
               "    r = np.eye(3)\n"
               "    r[i, i] = r[j, j] = np.cos(degrees)\n"
               "    r[i, j], r[j, i] = -np.sin(degrees), np.sin(degrees)\n"
               "    total = r @ total\n"
               "return total"),
         expect=["❌", "radians"]),
    dict(anchor="def rotate_volume(",
         code=("inverse = np.asarray(matrix).T\n"
               "return ndimage.affine_transform(volume, inverse, order=1, mode='nearest')"),
         expect=["❌", "corner"]),
]
