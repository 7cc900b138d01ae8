"""Pictures in and out: reading, tensor conversion, writing.  Every module that touches image files uses this one.

Two readers for two kinds of source:
  ``read_rgb``    files in bulk that this project writes or prepares (Multi-PIE / SynthPIE PNGs, crops):
                  OpenCV, fast; a file it cannot decode raises ``ImageProblem`` naming the file.
  ``read_photo``  what users actually have: EXIF-rotated JPEGs, CMYK, grayscale, RGBA, 16-bit PNG, huge
                  photos.  Pillow decodes (it knows EXIF orientation and CMYK).
Both return 8-bit RGB arrays.  Tensors are (3, H, W) floats in [-1, 1] (the notes' x / 127.5 - 1).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from frontalize.utils.io import atomic_write_bytes

# A corrupt file is reported once, by us, as a per-file problem: OpenCV's own console warnings would only add noise.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

MIN_SIDE = 20  # MTCNN's smallest face
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
PHOTO_SUFFIXES = IMAGE_SUFFIXES | {".tif", ".tiff", ".gif"}
Image.MAX_IMAGE_PIXELS = 200_000_000  # large photos are fine; decompression bombs are not


class ImageProblem(ValueError):
    """A file that is not a usable picture; the message is meant for the person who gave us the file."""


# ------------------------------------------------------------------------------------------- reading
def _decode(path: Path, flags: int) -> np.ndarray:
    """A project or dataset image file decoded by OpenCV (``flags``), or a specific ``ImageProblem``."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageProblem(f"{path}: unreadable ({e.strerror or e})") from None
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise ImageProblem(f"{path}: not a decodable image (truncated or corrupt)")
    return img


def read_rgb(path: Path) -> np.ndarray:
    """8-bit RGB array of a dataset image or crop."""
    return cv2.cvtColor(_decode(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    """8-bit grey array (H, W) of a mask this project wrote (a SynthPIE view's subject mask, its crop)."""
    return _decode(path, cv2.IMREAD_GRAYSCALE)


def load_square(path: Path, size: int) -> np.ndarray:
    """A crop at ``size`` x ``size`` (area-resized when it was prepared at another size)."""
    img = read_rgb(path)
    if img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img


def read_photo(path: Path) -> np.ndarray:
    """8-bit RGB array of a user's photo, EXIF orientation applied."""
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
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return rgb, 1.0
    small = cv2.resize(rgb, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
    return small, scale


# ------------------------------------------------------------------------------------------ tensors
def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 127.5 - 1.0


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) 8-bit RGB."""
    return ((image.detach().permute(1, 2, 0).cpu().numpy() + 1) * 127.5).clip(0, 255).round().astype(np.uint8)


def load_batch(prepared: Path, paths: list[str], size: int, device) -> torch.Tensor:
    """Crops (paths relative to the prepared folder) as a [-1, 1] batch at ``size``."""
    return torch.stack([to_tensor(load_square(Path(prepared) / p, size)) for p in paths]).to(device)


# ------------------------------------------------------------------------------------------- writing
def encode_png(rgb: np.ndarray, params: list[int] = ()) -> bytes:
    """PNG bytes of an RGB picture, or of a grey one (H, W) such as a mask; ``params``: OpenCV's PNG options
    (compression level, filter)."""
    ok, png = cv2.imencode(".png", rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params))
    if not ok:
        raise ImageProblem("PNG encoding failed")
    return png.tobytes()


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB (or a grey, (H, W)) picture as PNG, atomically."""
    atomic_write_bytes(path, encode_png(rgb))
