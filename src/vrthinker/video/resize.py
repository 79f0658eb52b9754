"""Qwen2-VL's smart-resize rule and a PIL frame resizer built on it.

Frames are handed to the model as images, so they must be sized exactly as the
Qwen2/2.5-VL image processor would size them: then the processor's own
smart-resize is a no-op on our frames and the visual token count is known in
advance (``(h // 28) * (w // 28)`` tokens for a 28-pixel factor).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

MAX_ASPECT_RATIO = 200  # Qwen2-VL rejects images more elongated than this.


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = 56 * 56,
    max_pixels: int = 28 * 28 * 256,
) -> tuple[int, int]:
    """Return ``(new_height, new_width)`` following Qwen2-VL's rule.

    Ported from ``smart_resize`` in Qwen2-VL's image processor
    (``transformers.models.qwen2_vl.image_processing_qwen2_vl``), so that
    results match it exactly, Python's round-half-to-even included:

    1. both sides are multiples of ``factor``;
    2. the area is within ``[min_pixels, max_pixels]``;
    3. the aspect ratio is kept as well as possible.

    Raises:
        ValueError: a side is < 1, or the aspect ratio exceeds 200 (as Qwen does).
    """
    if height < 1 or width < 1:
        # Qwen would divide by zero here; say what is wrong instead.
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, "
            f"got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resize_frame(
    frame: np.ndarray, min_pixels: int, max_pixels: int, factor: int = 28
) -> Image.Image:
    """Resize an RGB uint8 ``(H, W, 3)`` frame to its smart-resize size (bicubic, PIL).

    Bicubic matches the Qwen2-VL processor's default resampling.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB uint8 frame of shape (H, W, 3), got {frame.dtype} {frame.shape}"
        )
    height, width = frame.shape[:2]
    new_height, new_width = smart_resize(height, width, factor, min_pixels, max_pixels)
    image = Image.fromarray(frame)
    if (new_height, new_width) == (height, width):
        return image
    return image.resize((new_width, new_height), Image.Resampling.BICUBIC)
