"""Read what users actually have: EXIF-rotated JPEGs, CMYK, grayscale, RGBA, 16-bit PNG, huge photos.

Pillow decodes (it knows EXIF orientation and CMYK); everything comes out as 8-bit RGB.  Problems
raise ImageProblem with a sentence meant for the person who gave us the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 20  # MTCNN's smallest face
IMAGE_SUFFIXES_INFER = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
Image.MAX_IMAGE_PIXELS = 200_000_000  # large photos are fine; decompression bombs are not


class ImageProblem(ValueError):
    pass


def read_image(path: Path) -> np.ndarray:
    """8-bit RGB array, EXIF orientation applied."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
            rgb = _to_rgb(im)
    except UnidentifiedImageError:
        raise ImageProblem("not an image (unrecognised format)") from None
    except Image.DecompressionBombError:
        raise ImageProblem("image too large (over 200 megapixels)") from None
    except (OSError, SyntaxError) as e:
        raise ImageProblem(f"unreadable or truncated image ({e})") from None
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise ImageProblem(f"image too small for face detection ({rgb.shape[1]}x{rgb.shape[0]})")
    return rgb


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit) grayscale
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        grey = Image.new("RGBA", im.size, (128, 128, 128, 255))  # transparent areas become neutral grey
        im = Image.alpha_composite(grey, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def detection_copy(rgb: np.ndarray, max_side: int = 1280) -> tuple[np.ndarray, float]:
    """A downscaled copy for detection and the factor that maps its coordinates back."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return rgb, 1.0
    small = cv2.resize(rgb, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
    return small, scale
