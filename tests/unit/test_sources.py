"""The numbers the notebooks' prose states about their sources, pinned to what the code computes.

A citation review (issue 29) found prose that had drifted from its sources and from the code
beside it (50 MITOS fields where 35 were meant, a fast-mode grid size that had changed, ...).
These tests read the markdown of ``solutions/`` and check each stated number against the
computation it describes, so that neither can change alone.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


def cell(notebook: str, cell_id: str) -> str:
    """Source text of the cell ``cell_id`` of ``solutions/<notebook>.ipynb``."""
    nb = json.loads((SOLUTIONS / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    for c in nb["cells"]:
        if c.get("id") == cell_id:
            return "".join(c["source"])
    raise KeyError(f"{notebook}: no cell {cell_id!r}")


def words(text: str) -> str:
    """Markdown with its line breaks and emphasis removed, for phrase matching."""
    return re.sub(r"\s+", " ", text.replace("**", "").replace("*", ""))


def run(code: str, **names) -> dict:
    """Execute notebook code in a fresh namespace (with ``names`` predefined); return it."""
    namespace = dict(names)
    exec(compile(code, "<notebook cell>", "exec"), namespace)  # noqa: S102  (our own notebooks)
    return namespace


def pick_fast(*, fast, full, gpu=None):
    return fast


def pick_full(*, fast, full, gpu=None):
    return full


# ---- 10: MITOS 2012 ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mitos():
    return run(cell("10_detection_transfer", "cell-004"), math=math, print=lambda *a, **k: None)


def test_mitos_fields_and_mitoses_in_the_prose_are_the_codes(mitos):
    text = words(cell("10_detection_transfer", "cell-003"))
    assert f"{mitos['TRAIN_FIELDS']} fields for training ({mitos['TRAIN_MITOSES']} mitoses)" in text
    assert f"{mitos['TEST_FIELDS']} for testing ({mitos['TEST_MITOSES']})" in text
    assert f"{mitos['TRAIN_FIELDS'] + mitos['TEST_FIELDS']} high-power fields" in text
    side = mitos["FIELD_SIDE"]
    assert f"{side} x {side} RGB pixels" in text
    assert f"trained on the {mitos['TRAIN_FIELDS']} training fields" in text
    # "226 discs of radius 10 pixels would be about 71,000"
    assert f"{mitos['TRAIN_MITOSES']} discs of radius 10 pixels would be about {round(mitos['discs'], -3):,.0f}" in text


def test_the_talks_counts_are_the_training_fields_pixels(mitos):
    counted = mitos["MITOSIS_PIXELS"] + mitos["OTHER_PIXELS"]
    assert abs(counted / mitos["train_pixels"] - 1) < 0.01         # 35 fields: 152.0 M vs 151.07 M
    assert abs(counted / mitos["all_pixels"] - 1) > 0.25           # not all 50 fields
    intro = words(cell("10_detection_transfer", "cell-000"))
    assert f"the contest's {mitos['TRAIN_FIELDS']} training images" in intro
    assert f"{mitos['MITOSIS_PIXELS']:,} mitosis pixels" in intro


def test_matching_radii_in_contest_pixels_and_ours():
    text = words(cell("10_detection_transfer", "det-000"))
    um_per_px = 0.2456
    assert f"about {um_per_px} µm per pixel" in text
    assert f"about {round(8 / um_per_px)} or {round(5 / um_per_px)} pixels" in text   # 33, 20
    constants = re.search(r"^LABEL_RADIUS, NMS_RADIUS, MATCH_RADIUS = .*$",
                          cell("10_detection_transfer", "det-003"), re.M).group(0)
    radius = run(constants)["MATCH_RADIUS"]
    assert f"`MATCH_RADIUS = {radius:g}` pixels of our synthetic fields" in text
    assert f"{radius:g} pixels about {radius * 0.5:g} µm" in text           # at ~0.5 µm per pixel


def test_idsia_f1_follows_from_the_quoted_precision_and_recall():
    text = words(cell("10_detection_transfer", "det-014"))
    f1, precision, recall = (float(v) for v in re.search(
        r"F1 = ([\d.]+) .*precision ([\d.]+), recall ([\d.]+)", text).groups())
    assert round(2 * precision * recall / (precision + recall), 3) == f1
    assert "Roux et al., 2013" in text


# ---- 07: VGG-19's receptive field --------------------------------------------------------------
def receptive_field(layers):
    r, jump = 1, 1
    for kernel, stride in layers:
        r += (kernel - 1) * jump
        jump *= stride
    return r


def test_vgg19_receptive_field_stated_is_the_computed_one():
    code = cell("07_deeper_networks", "cell-013")
    stack = run(code.split("print(")[0])["vgg19"]                    # the list the cell builds
    last_conv = receptive_field(stack[:-1])
    assert last_conv == 252
    text = words(cell("07_deeper_networks", "cell-014"))
    assert f"last convolution sees {last_conv} x {last_conv} pixels, more than the 224 x 224 input" in text
    assert "second in classification" in words(cell("07_deeper_networks", "cell-000"))


# ---- 12, 13: the grid sizes the prose names ------------------------------------------------------
def test_notebook12_prose_names_its_grid_sizes():
    code = cell("12_cnn3d_nuclei", "cell-003")
    line = re.search(r"^N_TRAIN, SIZE = .*$", code, re.M).group(0)
    fast, full = run(line, pick=pick_fast)["SIZE"], run(line, pick=pick_full)["SIZE"]
    text = cell("12_cnn3d_nuclei", "cell-031")
    assert f"at {full}³ (full mode)" in text and f"fast-mode size ({fast}³)" in text


def test_notebook13_prose_names_its_fast_grid_size():
    code = cell("13_sparse_cnn", "cell-032")
    line = re.search(r"^size, n_test = .*$", code, re.M).group(0)
    fast = run(line, pick=pick_fast)["size"]
    assert f"fast mode ({fast}^3)" in words(cell("13_sparse_cnn", "cell-041"))


def test_the_talks_table_is_called_preliminary_where_quoted():
    for notebook, ids in {"12_cnn3d_nuclei": ("cell-000", "cell-037", "cell-038"),
                          "13_sparse_cnn": ("cell-000", "cell-039", "cell-040")}.items():
        for cell_id in ids:
            text = words(cell(notebook, cell_id)).lower()
            assert "preliminary" in text, (notebook, cell_id)
        assert "Kalinin et al." in cell(notebook, "cell-000")
        assert "not a reproduction" in words(cell(notebook, "cell-000"))


def test_real_nuclei_count_in_the_prose_is_the_loaders():
    from cnncourse import data

    ids = data.nuclei_3d_cubes(8)[2]
    names = {10: "ten"}
    assert f"cuts out the {names[len(ids)]}" in words(cell("12_cnn3d_nuclei", "real-md"))
    assert f"The {names[len(ids)]} complete nuclei" in words(cell("13_sparse_cnn", "real-md"))


# ---- 00: bit depth --------------------------------------------------------------------------------
def test_welcome_states_the_nuclei_images_range_and_camera_bit_depths():
    from cnncourse import data

    image, _ = data.load_nuclei()
    text = words(cell("00_welcome", "cell-005"))
    assert f"lie in {image.min()}..{image.max()}" in text
    assert "12 to 16 bits" in text and "came as `uint16`" in text
    stack = data.load_nuclei_3d()[0]
    assert stack.dtype == np.uint16 and stack.max() > 255          # real 3D data: 16-bit


def test_real_nuclei_sizes_in_the_prose_are_their_bounding_boxes():
    from scipy import ndimage

    from cnncourse import data

    _, labels, spacing = data.load_nuclei_3d()
    ids = data.nuclei_3d_cubes(8)[2]
    boxes = ndimage.find_objects(labels)
    extent = np.array([[(s.stop - s.start) * d for s, d in zip(boxes[k - 1], spacing)] for k in ids])
    tall = f"{round(extent[:, 0].min())} to {round(extent[:, 0].max())} µm tall"          # z
    across = f"{round(extent[:, 1:].min())} to {round(extent[:, 1:].max())} µm across"    # y, x
    text = words(cell("12_cnn3d_nuclei", "real-read"))
    assert tall in text and across in text, (tall, across)


# ---- 09, 11: how the methods of the cited papers are described ------------------------------------
def test_noisy_and_slope_is_ours_and_the_code_uses_it():
    a = float(re.search(r"NoisyAnd\(a=([\d.]+)", cell("11_multiple_instance", "cell-016")).group(1))
    text = words(cell("11_multiple_instance", "cell-013"))
    assert f"The slope $a = {a:g}$ used below is our choice" in text
    intro = words(cell("11_multiple_instance", "cell-000"))
    assert "high-content fluorescence screens" in intro and "not histology" in intro


def test_giusti_is_described_as_fragments_and_dynamic_programming():
    text = words(cell("09_segmentation", "cell-035"))
    assert "Giusti et al. (ICIP 2013)" in text and "dynamic programming" in text
    assert '"fragments"' in text and "trick that Giusti" not in text
