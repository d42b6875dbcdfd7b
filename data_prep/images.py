"""Reading source images for parquet rows: originals byte for byte, or downscaled to a pixel budget as PNG.

Every source file is hashed as it is read (the manifest records it), and checked to decode, so a corrupt file
is reported by path before a training job meets it.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image

from data_prep.outputs import atomic_path

# Lossless either way; level 1 encodes ~3x faster than Pillow's default 6 for ~25% more bytes (BENCHMARKS.md).
PNG_COMPRESS_LEVEL = 1


class BadImageError(ValueError):
    """A source image that cannot be read or decoded; ``path`` names it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"unreadable image {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class LoadedImage:
    data: bytes  # what goes into the row
    source_sha256: str
    source_bytes: int
    size: tuple[int, int] = (0, 0)  # (width, height) of ``data``


# Qwen2.5-VL's image processor: 14-pixel patches merged 2 x 2, so sides become multiples of 28, within these
# pixel counts (its preprocessor_config.json defaults).
PATCH_FACTOR: Final = 28
QWEN_MIN_PIXELS: Final = 56 * 56
QWEN_MAX_PIXELS: Final = 28 * 28 * 16384


def patch_frame(width: int, height: int, max_pixels: int | None = None) -> tuple[int, int]:
    """The (width, height) Qwen2.5-VL's processor resizes an image to (transformers' ``smart_resize``): sides
    rounded to multiples of 28, scaled into [min_pixels, max_pixels] keeping the aspect ratio."""
    factor, max_pixels = PATCH_FACTOR, max_pixels or QWEN_MAX_PIXELS
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < QWEN_MIN_PIXELS:
        beta = math.sqrt(QWEN_MIN_PIXELS / (height * width))
        h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def target_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most ``max_pixels`` pixels (never upscaled)."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def load_image(path: Path, max_pixels: int | None = None, *, patch_aligned: bool = False) -> LoadedImage:
    """The file's bytes if it fits ``max_pixels`` (or no budget is set), else a lossless PNG of the downscaled image.

    ``patch_aligned``: resized to the processor's frame (``patch_frame``) instead, so that the processor leaves the
    image as stored and pixel coordinates in it are the model's (``--grounding``)."""
    try:
        source = path.read_bytes()
    except OSError as error:
        raise BadImageError(path, error.strerror or str(error)) from error
    try:
        with Image.open(io.BytesIO(source)) as image:
            if patch_aligned:
                size = patch_frame(image.width, image.height, max_pixels)
            else:
                size = target_size(image.width, image.height, max_pixels) if max_pixels else image.size
            if size == image.size:
                image.verify()
                data = source
            else:
                buffer = io.BytesIO()
                resized = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
                resized.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
                data = buffer.getvalue()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise BadImageError(path, f"{type(error).__name__}: {error}") from error
    return LoadedImage(data, hashlib.sha256(source).hexdigest(), len(source), size)


class ImageCache:
    """Least-recently-used images within a byte budget: references repeat across rows, queries do not."""

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], LoadedImage] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[str, str]) -> LoadedImage | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[str, str], item: LoadedImage) -> None:
        if key in self._items:
            return
        self._items[key] = item
        self._bytes += len(item.data)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= len(evicted.data)


def save_png_atomically(image: Image.Image, out_png: Path) -> None:
    """Write ``image`` as a PNG through a temporary file in the same folder, so ``out_png`` is never half-written."""
    with atomic_path(out_png) as temporary:
        image.save(temporary, format="PNG")
