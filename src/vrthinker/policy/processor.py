"""Image-only Qwen-VL processor that works without torchvision.

We feed video frames to the model as separate images everywhere, so only the image path is
needed. :class:`QwenVLProcessor` *is* transformers' ``Qwen2_5_VLProcessor`` (same placeholder
expansion, same ``mm_token_type_ids``), with two changes that make it usable here:

- the image processor is ``Qwen2VLImageProcessorPil`` (the default class needs torchvision,
  which must not be installed: it breaks transformers' image stack on this setup);
- there is no video processor. The stock class check resolves video processors through a
  registry that needs torchvision, so :meth:`check_argument_for_proper_class` is relaxed.

Outputs: ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` (0 text, 1 image; without it
Qwen2.5-VL silently falls back to 1-D positions), ``pixel_values`` ``(sum of patches, C*T*P*P)``
and ``image_grid_thw`` ``(num_images, 3)``. Each ``<|image_pad|>`` in the text expands to
``grid_t * grid_h * grid_w // merge_size**2`` pads.

The same class serves Qwen3-VL checkpoints: their image path differs only in the image
processor's settings (patch 16, mean/std 0.5), which come from ``preprocessor_config.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from transformers import AutoTokenizer, BatchFeature, Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

logger = logging.getLogger(__name__)

# Qwen2.5-VL's class defaults: 56*56 min (4 visual tokens), 28*28*1280 max (1280 tokens).
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 28 * 28 * 1280
QWEN3_VL_IMAGE_MEAN = (0.5, 0.5, 0.5)
QWEN3_VL_IMAGE_STD = (0.5, 0.5, 0.5)


def build_image_processor(
    *,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    patch_size: int = 14,
    merge_size: int = 2,
    temporal_patch_size: int = 2,
    image_mean: tuple[float, float, float] | None = None,
    image_std: tuple[float, float, float] | None = None,
) -> Qwen2VLImageProcessorPil:
    """A torchvision-free Qwen2-VL image processor (CLIP mean/std unless given)."""
    kwargs: dict[str, Any] = dict(
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        patch_size=patch_size,
        merge_size=merge_size,
        temporal_patch_size=temporal_patch_size,
    )
    if image_mean is not None:
        kwargs["image_mean"] = list(image_mean)
    if image_std is not None:
        kwargs["image_std"] = list(image_std)
    return Qwen2VLImageProcessorPil(**kwargs)


class QwenVLProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` restricted to text + images, with a Pil image processor.

    Call it with keywords: ``processor(text=..., images=[...], padding=True)``. ``images`` is a
    flat list in the order the ``<|image_pad|>`` placeholders appear (across the whole batch)
    or one list per text. Returns PyTorch tensors unless ``return_tensors`` says otherwise.
    """

    def __init__(
        self,
        image_processor: Qwen2VLImageProcessorPil | None = None,
        tokenizer: Any = None,
        video_processor: None = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        if tokenizer is None:
            raise ValueError("QwenVLProcessor needs a tokenizer")
        if video_processor is not None:
            raise ValueError("QwenVLProcessor is image-only: feed video frames as images")
        if image_processor is None:
            image_processor = build_image_processor()
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template if chat_template is not None else tokenizer.chat_template,
            **kwargs,
        )

    def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> type:
        # The stock check looks video processors up in a registry that imports torchvision (and
        # rejects `None`); the Pil image processor and tokenizer need no check beyond duck typing.
        return type(argument)

    def __call__(  # type: ignore[override]
        self,
        text: str | list[str] | None = None,
        images: list[Image.Image] | list[list[Image.Image]] | None = None,
        videos: Any = None,
        *,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        """Tokenize chat-templated ``text`` and preprocess ``images`` (see class docstring)."""
        if videos is not None:
            raise NotImplementedError("QwenVLProcessor is image-only: pass video frames as images")
        if images is not None and len(images) == 0:
            images = None  # stock processor treats [] as "images given" and then finds 0 of N
        if images is not None:
            self._check_pixels()
        return super().__call__(images=images, text=text, return_tensors=return_tensors, **kwargs)

    # -- visual-token budget ----------------------------------------------------------------------

    @property
    def patch_size(self) -> int:
        return int(self.image_processor.patch_size)

    @property
    def merge_size(self) -> int:
        return int(self.image_processor.merge_size)

    @property
    def min_pixels(self) -> int:
        return int(self.image_processor.size["shortest_edge"])

    @min_pixels.setter
    def min_pixels(self, value: int) -> None:
        self._set_size("shortest_edge", value)

    @property
    def max_pixels(self) -> int:
        return int(self.image_processor.size["longest_edge"])

    @max_pixels.setter
    def max_pixels(self, value: int) -> None:
        self._set_size("longest_edge", value)

    def set_pixels(self, *, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
        """Set the smart-resize pixel range (either bound may be left as is)."""
        if min_pixels is not None:
            self._set_size("shortest_edge", min_pixels)
        if max_pixels is not None:
            self._set_size("longest_edge", max_pixels)
        self._check_pixels()

    def _set_size(self, key: str, value: int) -> None:
        # min <= max is checked at use, not here, so `p.min_pixels, p.max_pixels = a, b` works
        # whatever the previous range was.
        if int(value) <= 0:
            raise ValueError(f"{key}={value}: pixel bounds must be positive")
        size = dict(self.image_processor.size)
        size[key] = int(value)
        self.image_processor.size = type(self.image_processor.size)(**size)

    def _check_pixels(self) -> None:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels={self.min_pixels} > max_pixels={self.max_pixels}")

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) an image of this size is resized to (Qwen's ``smart_resize``)."""
        self._check_pixels()
        return smart_resize(
            height,
            width,
            factor=self.patch_size * self.merge_size,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )

    def image_token_count(self, height: int, width: int) -> int:
        """Number of ``<|image_pad|>`` tokens one frame of this size becomes.

        A still image is one temporal patch (``grid_t = 1``), so this is
        ``(H' / patch) * (W' / patch) / merge_size**2`` after smart-resize.
        """
        resized_h, resized_w = self.resized_size(height, width)
        grid_h, grid_w = resized_h // self.patch_size, resized_w // self.patch_size
        return grid_h * grid_w // self.merge_size**2

    # -- persistence --------------------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> list[str]:  # type: ignore[override]
        """Write tokenizer files + ``preprocessor_config.json`` (the stock save needs a video processor)."""
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        files = list(self.tokenizer.save_pretrained(save_directory))
        files += list(self.image_processor.save_pretrained(save_directory))
        return [str(f) for f in files]

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        tokenizer: Any = None,
        local_files_only: bool = True,
        **kwargs: Any,
    ) -> QwenVLProcessor:
        """Load from a directory holding tokenizer files and ``preprocessor_config.json``.

        Works for our own saves and for released Qwen2.5-VL / Qwen3-VL checkpoint folders.
        ``kwargs`` (e.g. ``min_pixels``) override the saved image-processor settings.
        """
        path = str(pretrained_model_name_or_path)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_files_only)
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(path, local_files_only=local_files_only)
        processor = cls(image_processor=image_processor, tokenizer=tokenizer)
        if "min_pixels" in kwargs or "max_pixels" in kwargs:
            processor.set_pixels(min_pixels=kwargs.pop("min_pixels", None), max_pixels=kwargs.pop("max_pixels", None))
        if kwargs:
            raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
        return processor


def build_processor(
    tokenizer: Any,
    *,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    family: Literal["qwen2_5_vl", "qwen3_vl"] = "qwen2_5_vl",
) -> QwenVLProcessor:
    """Processor for ``tokenizer`` with the image settings of a model family.

    ``family="qwen3_vl"`` uses Qwen3-VL's patch size 16 and mean/std 0.5.
    """
    if family == "qwen2_5_vl":
        image_processor = build_image_processor(min_pixels=min_pixels, max_pixels=max_pixels)
    elif family == "qwen3_vl":
        image_processor = build_image_processor(
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            patch_size=16,
            image_mean=QWEN3_VL_IMAGE_MEAN,
            image_std=QWEN3_VL_IMAGE_STD,
        )
    else:
        raise ValueError(f"family={family!r}: must be 'qwen2_5_vl' or 'qwen3_vl'")
    return QwenVLProcessor(image_processor=image_processor, tokenizer=tokenizer)


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_PIXELS",
    "QwenVLProcessor",
    "build_image_processor",
    "build_processor",
]
