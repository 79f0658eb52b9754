"""smart_resize golden values (derived by hand below) and resize_frame."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vrthinker.video import resize_frame, smart_resize

MIN, MAX = 56 * 56, 28 * 28 * 256  # 3136, 200704 (our defaults)


@pytest.mark.parametrize(
    ("height", "width", "kwargs", "expected"),
    [
        # 480x640: rounded 476x644 = 306544 > 200704, so shrink by
        # beta = sqrt(307200 / 200704) = sqrt(75/49) = 1.23718;
        # 480/beta/28 = 13.86 -> 13*28 = 364; 640/beta/28 = 18.48 -> 18*28 = 504.
        (480, 640, {}, (364, 504)),
        (640, 480, {}, (504, 364)),
        # Within range already: 224/28 = 8 exactly.
        (224, 224, {}, (224, 224)),
        # 100/28 = 3.57 -> 4 -> 112; 300/28 = 10.71 -> 11 -> 308; 112*308 = 34496 in range.
        (100, 300, {}, (112, 308)),
        # Too small: rounded 28x28 = 784 < 3136; beta = sqrt(3136/600) = 2.2862;
        # 20*beta/28 = 1.63 -> ceil 2 -> 56; 30*beta/28 = 2.45 -> ceil 3 -> 84.
        (20, 30, {}, (56, 84)),
        # Real video 752x1360: beta = sqrt(1022720/200704) = 2.2574;
        # 752/beta/28 = 11.90 -> 308; 1360/beta/28 = 21.52 -> 588.
        (752, 1360, {}, (308, 588)),
        # Aspect ratio exactly 200 is allowed: rounded 0x196 -> grow, beta = sqrt(3136/200) = 3.960;
        # 1*beta/28 = 0.14 -> ceil 1 -> 28; 200*beta/28 = 28.28 -> ceil 29 -> 812.
        (1, 200, {}, (28, 812)),
        # Qwen2.5-VL processor defaults (max 14*14*4*1280 = 1003520): 1080/28 = 38.57 -> 39 -> 1092,
        # 1920/28 = 68.57 -> 69 -> 1932; 1092*1932 = 2109744 > max: beta = sqrt(2073600/1003520) = 1.4375;
        # 1080/beta/28 = 26.83 -> 26 -> 728; 1920/beta/28 = 47.70 -> 47 -> 1316.
        (1080, 1920, {"max_pixels": 14 * 14 * 4 * 1280}, (728, 1316)),
        # factor 14: 100/14 = 7.14 -> 7 -> 98; 150/14 = 10.71 -> 11 -> 154; 98*154 = 15092 in range.
        (100, 150, {"factor": 14}, (98, 154)),
        # Python's round() halves to even, as in Qwen: 42/28 = 1.5 -> 2 -> 56; 70/28 = 2.5 -> 2 -> 56.
        (42, 70, {"min_pixels": 28 * 28}, (56, 56)),
    ],
)
def test_smart_resize_golden(height, width, kwargs, expected):
    assert smart_resize(height, width, **kwargs) == expected


def test_smart_resize_invariants():
    for height in (28, 57, 100, 384, 720, 752, 1080, 2000):
        for width in (28, 64, 333, 688, 1280, 1360, 3840):
            h, w = smart_resize(height, width, 28, MIN, MAX)
            assert h % 28 == 0 and w % 28 == 0
            assert MIN <= h * w <= MAX
            # Idempotent, so the Qwen processor leaves our frames as they are.
            assert smart_resize(h, w, 28, MIN, MAX) == (h, w)


@pytest.mark.parametrize(("height", "width"), [(1, 201), (1000, 4)])
def test_smart_resize_rejects_extreme_aspect_ratio(height, width):
    with pytest.raises(ValueError, match="aspect ratio must be smaller than 200"):
        smart_resize(height, width)


@pytest.mark.parametrize(("height", "width"), [(0, 10), (10, 0), (-5, 10)])
def test_smart_resize_rejects_empty_size(height, width):
    with pytest.raises(ValueError, match="must be positive"):
        smart_resize(height, width)


def test_resize_frame_is_pil_bicubic_to_smart_size():
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    image = resize_frame(frame, MIN, MAX)
    assert image.mode == "RGB" and image.size == (504, 364)  # PIL size is (width, height)
    expected = Image.fromarray(frame).resize((504, 364), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))


def test_resize_frame_keeps_already_sized_frame():
    frame = np.full((224, 224, 3), 7, np.uint8)
    np.testing.assert_array_equal(np.asarray(resize_frame(frame, MIN, MAX)), frame)


@pytest.mark.parametrize("shape_dtype", [((10, 10), np.uint8), ((10, 10, 4), np.uint8), ((10, 10, 3), np.float32)])
def test_resize_frame_rejects_non_rgb_uint8(shape_dtype):
    shape, dtype = shape_dtype
    with pytest.raises(ValueError, match="RGB uint8"):
        resize_frame(np.zeros(shape, dtype), MIN, MAX)
