"""Checkers of notebook 09: a correct, a stub and typical wrong answers (the mistake is named)."""
import numpy as np

from cnncourse import checks
from cnncourse.checks import segmentation as cs


def last():
    return checks.history()[-1]


def stub(*args, **kwargs):
    raise NotImplementedError


def test_extract_window():
    assert cs.extract_window(cs._extract_window) is cs._extract_window
    assert last().passed
    assert cs.extract_window(stub) is cs._extract_window and last().status == "not done"
    for wrong, words in [(cs._window_no_offset, "PADDED image"), (cs._window_zero_padding, "zero padding"),
                         (cs._window_off_by_one, "one pixel short"), (cs._window_no_padding, "no padding")]:
        assert cs.extract_window(wrong) is cs._extract_window
        assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_dice_score():
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


def test_conv1_repeats():
    assert cs.conv1_repeats(14 ** 2, window=17) == 196 and last().passed
    assert cs.conv1_repeats(15 ** 2, window=17, kernel=3) == 225 and last().passed
    assert cs.conv1_repeats(..., window=17) == 196 and last().status == "not done"
    for wrong, words in [(17 ** 2, "not 17x17"), (13 ** 2, "off by one"), (14, "two dimensions"),
                         (1, "not 1")]:
        assert cs.conv1_repeats(wrong, window=17) == 196
        assert last().status == "failed" and words in last().message, last().message


def test_split_touching():
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
