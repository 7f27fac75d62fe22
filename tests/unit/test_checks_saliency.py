"""Checkers of notebook 08: correct, wrong (the mistake is named) and stub answers."""
import numpy as np
import pytest

from cnncourse.checks import saliency as cs


@pytest.fixture(scope="module")
def tf():
    from cnncourse.device import import_keras

    import_keras()
    import tensorflow as tf

    return tf


# ---------------------------------------------------------------------------- gradient saliency

def _saliency(tf, *, sigmoid=False, absolute=True, reduce="max", mean=False, batch_map=False,
              weights=False):
    def gradient_saliency(model, images):
        x = tf.convert_to_tensor(np.asarray(images, np.float32))
        with tf.GradientTape() as tape:
            tape.watch(x)
            s = model(x)[:, 0]
            if sigmoid:
                s = tf.sigmoid(s)
            s = tf.reduce_mean(s) if mean else tf.reduce_sum(s)
        if weights:
            return tape.gradient(s, model.trainable_variables)
        g = tape.gradient(s, x).numpy()
        g = np.abs(g) if absolute else g
        out = getattr(g, reduce)(axis=-1)
        return out.sum(0) if batch_map else out
    return gradient_saliency


def test_gradient_saliency(verdict, last, stub, tf):
    good = _saliency(tf)
    assert cs.gradient_saliency(good) is good and last().passed
    cs.gradient_saliency(_saliency(tf, sigmoid=True))
    verdict("failed", "probability sigmoid(logit)")
    cs.gradient_saliency(_saliency(tf, absolute=False))
    verdict("failed", "forgot the absolute value")
    cs.gradient_saliency(_saliency(tf, mean=True))
    verdict("failed", "averaged the scores over the batch")
    cs.gradient_saliency(_saliency(tf, reduce="mean"))
    verdict("failed", "averaged over the colour channels")
    cs.gradient_saliency(_saliency(tf, batch_map=True))
    verdict("failed", "one map for the whole batch")
    cs.gradient_saliency(_saliency(tf, weights=True))
    verdict("failed", "with respect to the weights")
    assert cs.gradient_saliency(stub) is cs._gradient_saliency and last().status == "not done"


# ---------------------------------------------------------------------------- Grad-CAM

def _cam(tf, *, relu="before", average=True, layer=-1, upsample=True, resize="bilinear"):
    from cnncourse.device import import_keras

    keras = import_keras()

    def grad_cam(model, images):
        x = tf.convert_to_tensor(np.asarray(images, np.float32))
        convs = [ly for ly in model.layers if isinstance(ly, keras.layers.Conv2D)]
        probe = keras.Model(model.inputs[0], [convs[layer].output, model.outputs[0]])
        with tf.GradientTape() as tape:
            acts, logits = probe(x)
            score = tf.reduce_sum(logits[:, 0])
        grads = tape.gradient(score, acts)
        if average:
            cam = tf.reduce_sum(tf.reduce_mean(grads, axis=(1, 2), keepdims=True) * acts, -1)
        else:
            cam = tf.reduce_sum(grads * acts, -1)
        if relu == "before":
            cam = tf.nn.relu(cam)
        if upsample:
            cam = tf.image.resize(cam[..., None], x.shape[1:3], method=resize)[..., 0]
        if relu == "after":
            cam = tf.nn.relu(cam)
        return cam.numpy()
    return grad_cam


def test_grad_cam(verdict, last, stub, tf):
    good = _cam(tf)
    assert cs.grad_cam(good) is good and last().passed
    after = _cam(tf, relu="after")                  # ReLU after the resize: accepted
    assert cs.grad_cam(after) is after and last().passed
    cs.grad_cam(_cam(tf, relu=None))
    verdict("failed", "no ReLU")
    cs.grad_cam(_cam(tf, average=False))
    verdict("failed", "elementwise")
    cs.grad_cam(_cam(tf, layer=0))
    verdict("failed", "first convolution")
    cs.grad_cam(_cam(tf, upsample=False))
    verdict("failed", "not upsampled")
    assert cs.grad_cam(stub) is cs._grad_cam and last().status == "not done"


# ---------------------------------------------------------------------------- occlusion

def _occ(tf, *, sign=1.0, zero=False, step="stride", count=0):
    def occlusion_map(model, images, fill, patch=8, stride=4):
        x = np.asarray(images, np.float32)
        n, h, w, _ = x.shape
        base = model(x).numpy()[:, 0]
        ny, nx = (h - patch) // stride + 1 + count, (w - patch) // stride + 1 + count
        out = np.zeros((n, ny, nx), np.float32)
        for iy in range(ny):
            for ix in range(nx):
                xo = x.copy()
                s = stride if step == "stride" else patch
                xo[:, iy * s:iy * s + patch, ix * s:ix * s + patch] = 0.0 if zero else fill
                out[:, iy, ix] = sign * (base - model(xo).numpy()[:, 0])
        return out
    return occlusion_map


def test_occlusion_map(verdict, last, stub, tf):
    good = _occ(tf)
    assert cs.occlusion_map(good) is good and last().passed
    cs.occlusion_map(_occ(tf, sign=-1.0))
    verdict("failed", "sign is reversed")
    cs.occlusion_map(_occ(tf, zero=True))
    verdict("failed", "occluded with 0")
    cs.occlusion_map(_occ(tf, step="patch"))
    verdict("failed", "squares are misplaced")
    cs.occlusion_map(_occ(tf, count=-1))
    verdict("failed", "number of window positions is off")
    assert cs.occlusion_map(stub) is cs._occlusion and last().status == "not done"


# ---------------------------------------------------------------------------- Spearman

def test_spearman(verdict, last, stub):
    from scipy.stats import rankdata, spearmanr

    def good(a, b):
        return np.corrcoef(rankdata(np.ravel(a)), rankdata(np.ravel(b)))[0, 1]

    assert cs.spearman(good) is good and last().passed
    assert cs.spearman(lambda a, b: spearmanr(np.ravel(a), np.ravel(b)).statistic) and last().passed
    cs.spearman(lambda a, b: np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])
    verdict("failed", "pearson's correlation of the values")
    cs.spearman(lambda a, b: np.corrcoef(np.argsort(np.ravel(a)), np.argsort(np.ravel(b)))[0, 1])
    verdict("failed", "np.argsort gives the *order*")
    cs.spearman(lambda a, b: np.corrcoef(np.argsort(np.argsort(np.ravel(a))),
                                         np.argsort(np.argsort(np.ravel(b))))[0, 1])
    verdict("failed", "average rank")
    assert cs.spearman(stub) is cs._spearman and last().status == "not done"


# ---------------------------------------------------------------------------- mass inside

def test_mass_inside(verdict, last, stub):
    def good(maps, masks):
        m = np.abs(maps)
        return (m * masks).sum(axis=(1, 2)) / m.sum(axis=(1, 2))

    assert cs.mass_inside(good) is good and last().passed
    cs.mass_inside(lambda maps, masks: (np.abs(maps) * masks).sum(axis=(1, 2)) / np.abs(maps).sum())
    verdict("failed", "that image's* total")
    cs.mass_inside(lambda maps, masks: (np.abs(maps) * masks).sum(axis=(1, 2)) / masks.sum(axis=(1, 2)))
    verdict("failed", "mean value inside the mask")
    cs.mass_inside(lambda maps, masks: (maps * masks).sum(axis=(1, 2)) / maps.sum(axis=(1, 2)))
    verdict("failed", "absolute value")
    assert cs.mass_inside(stub) is cs._mass_inside and last().status == "not done"


def test_reference_maps_have_expected_shapes(tf):
    gap, flat = cs._models()
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    assert cs._gradient_saliency(flat, x).shape == (2, 16, 16)
    assert cs._grad_cam(flat, x).shape == (2, 16, 16)
    assert cs._occlusion(flat, x, [0.5, 0.5, 0.5], 8, 4).shape == (2, 3, 3)
    # for a network ending in global average pooling + one linear unit, Grad-CAM is CAM / (h w)
    xg = x[:, :12, :12]
    keras = __import__("keras")
    probe = keras.Model(gap.inputs[0], gap.get_layer("c2").output)
    acts = np.asarray(probe(xg))
    w = np.asarray(gap.get_layer("logit").kernel)[:, 0]
    cam = np.maximum((acts * w).sum(-1) / (acts.shape[1] * acts.shape[2]), 0)
    coarse = cs._grad_cam(gap, xg, upsample=False)
    np.testing.assert_allclose(coarse, cam, rtol=1e-4, atol=1e-7)
