"""Subtle wrong answers for notebook 08: right shapes, wrong behaviour; each check must name it."""
NOTEBOOK = "08_what_networks_see"
WRONG = [
    # the probability's gradient: right shape, scaled by p (1 - p) per image
    dict(anchor="def gradient_saliency(",
         code="""
x = tf.convert_to_tensor(np.asarray(images, np.float32))
with tf.GradientTape() as tape:
    tape.watch(x)
    score = tf.reduce_sum(tf.sigmoid(model(x, training=False)[:, 0]))
grad = tape.gradient(score, x)
return np.abs(grad.numpy()).max(axis=-1)
""",
         expect=["❌", "gradient_saliency", "probability sigmoid(logit)"]),
    # gradient x activation elementwise, no averaging: right shape, wrong weights
    dict(anchor="def grad_cam(",
         code="""
x = tf.convert_to_tensor(np.asarray(images, np.float32))
last_conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][-1]
probe = keras.Model(model.inputs[0], [last_conv.output, model.outputs[0]])
with tf.GradientTape() as tape:
    acts, logits = probe(x, training=False)
    score = tf.reduce_sum(logits[:, 0])
grads = tape.gradient(score, acts)
cam = tf.nn.relu(tf.reduce_sum(grads * acts, axis=-1))
cam = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear")[..., 0]
return cam.numpy()
""",
         expect=["❌", "grad_cam", "elementwise"]),
    # occluding with black instead of the fill colour
    dict(anchor="def occlusion_map(",
         code="""
x = np.asarray(images, np.float32)
n, height, width, channels = x.shape
starts_y = range(0, height - patch + 1, stride)
starts_x = range(0, width - patch + 1, stride)
base = np.asarray(model(x, training=False))[:, 0]
out = np.zeros((n, len(starts_y), len(starts_x)), np.float32)
for iy, y0 in enumerate(starts_y):
    for ix, x0 in enumerate(starts_x):
        occluded = x.copy()
        occluded[:, y0:y0 + patch, x0:x0 + patch] = 0.0
        out[:, iy, ix] = base - np.asarray(model(occluded, training=False))[:, 0]
return out
""",
         expect=["❌", "occlusion_map", "occluded with 0"]),
    # ranks without averaging ties
    dict(anchor="def spearman(",
         code="""
ra = np.argsort(np.argsort(np.ravel(a)))
rb = np.argsort(np.argsort(np.ravel(b)))
return float(np.corrcoef(ra, rb)[0, 1])
""",
         expect=["❌", "spearman", "average rank"]),
    # normalised by the whole batch's mass
    dict(anchor="def mass_inside(",
         code="""
m = np.abs(np.asarray(maps, np.float64))
return (m * masks).sum(axis=(1, 2)) / m.sum()
""",
         expect=["❌", "mass_inside", "that image's* total"]),
]
