"""Subtle wrong answers for the exercises of notebook 13 (right shapes, wrong behaviour)."""
NOTEBOOK = "13_sparse_cnn"
WRONG = [
    dict(anchor="macs = (",
         code="macs = (32**3 * 3**2 * 16 * 16, n_sites * 3**2 * 16 * 16)",
         expect=["❌", "k**3 = 27"]),
    dict(anchor="def build_rulebook(",
         code=("coords = np.asarray(coords)\n"
               "n = len(coords)\n"
               "where = {tuple(c[1:]): i for i, c in enumerate(coords.tolist())}\n"
               "r = range(-(kernel_size // 2), kernel_size // 2 + 1)\n"
               "table = np.full((n, kernel_size**3), n, dtype=np.int64)\n"
               "for i, (b, z, y_, x) in enumerate(coords.tolist()):\n"
               "    for o, (dz, dy, dx) in enumerate(itertools.product(r, r, r)):\n"
               "        table[i, o] = where.get((z + dz, y_ + dy, x + dx), n)\n"
               "return table"),
         expect=["❌", "different samples"]),
    dict(anchor="def submanifold_conv(",
         code=("gathered = np.take(features, table, axis=0, mode='clip').reshape(len(table), -1)\n"
               "return gathered @ kernel.reshape(-1, kernel.shape[-1])"),
         expect=["❌", "row of zeros"]),
    dict(anchor="def build_sparse_classifier(",
         code=("inputs = sparse.network_input_layers(len(widths), 1)\n"
               "x = inputs['features']\n"
               "for lev, width in enumerate(widths):\n"
               "    x = keras.layers.Dense(width, use_bias=False)(x)\n"
               "    x = sparse.SparseBatchNormalization(momentum=0.9)(x)\n"
               "    x = keras.layers.ReLU()(x)\n"
               "    if lev < len(widths) - 1:\n"
               "        x = sparse.SparseMaxPool3D(2)(x, inputs[f'down_{lev}'], inputs[f'up_{lev}'])\n"
               "x = sparse.SparseGlobalPool3D('avg_max')(x, inputs['batch_index'], inputs['samples'])\n"
               "x = keras.layers.Dropout(dropout)(x)\n"
               "return keras.Model(inputs, keras.layers.Dense(1, activation='sigmoid')(x))"),
         expect=["❌", "never look at the neighbours"]),
]
