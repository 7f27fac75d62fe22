"""``cnncourse bench segmentation``: time per image of the three ways to label every pixel
(sliding-window classifier, the same classifier made fully convolutional, a U-Net) with their
multiply-adds per pixel. Untrained weights: the time does not depend on them."""
from __future__ import annotations

import numpy as np

from cnncourse import config
from cnncourse.tools.bench import median_time, print_table
from cnncourse.segmentation import (_build_unet, _to_fully_convolutional, build_window_classifier,
                                    multiply_adds, predict_dense, predict_sliding_window,
                                    predict_unet)


def run(*, fast: bool | None = None, verbose: bool = True) -> dict:
    """``{"per_image": rows}`` for images of 64, 128 and 256 pixels a side (fast: 64 only)."""
    from cnncourse import device

    fast = config.FAST if fast is None else fast
    window = 17
    model = build_window_classifier(window, width=8, hidden=32)
    dense = _to_fully_convolutional(model)
    unet = _build_unet(depth=2, width=8)
    rng = np.random.default_rng(0)
    rows = []
    for side in (64,) if fast else (64, 128, 256):
        image = rng.random((side, side)).astype(np.float32)
        n = side * side
        runs = {
            "sliding window": (lambda: predict_sliding_window(model, image),
                               multiply_adds(model, (window, window, 1))),
            "fully convolutional": (lambda: predict_dense(dense, image, window=window),
                                    multiply_adds(dense, (side + window - 1,) * 2 + (1,)) / n),
            "U-Net": (lambda: predict_unet(unet, image), multiply_adds(unet, (side, side, 1)) / n),
        }
        slow = None
        for name, (fn, macs) in runs.items():
            seconds = median_time(fn, repeat=3 if side <= 128 or name != "sliding window" else 1)
            slow = slow or seconds
            rows.append({"image": f"{side}x{side}", "method": name, "MACs/pixel": f"{macs:,.0f}",
                         "ms/image": 1000 * seconds, "speed-up": f"{slow / seconds:.1f}x"})
    if verbose:
        print_table(rows, title=f"segmentation: time per image ({device.describe()})")
    return {"per_image": rows}
