"""Reading a product image, from a file or a URL, and finding QR codes in it."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import zxingcpp
from PIL import Image, UnidentifiedImageError

__all__ = ["ImageUnreadableError", "find_qr_codes", "load_image"]

# every QR symbology a platform's image check rejects
QR_FORMATS = zxingcpp.BarcodeFormats(
    [
        zxingcpp.BarcodeFormat.QRCode,
        zxingcpp.BarcodeFormat.MicroQRCode,
        zxingcpp.BarcodeFormat.RMQRCode,
    ]
)
TIMEOUT_SECONDS = 20.0


class ImageUnreadableError(Exception):
    """An image could not be fetched or decoded; the message names it and why."""


def load_image(where: str, base: Path) -> Image.Image:
    """The image at a URL, or at a path (relative to `base`, the sheet's folder)."""
    try:
        if where.startswith(("http://", "https://")):
            response = httpx.get(where, timeout=TIMEOUT_SECONDS, follow_redirects=True)
            response.raise_for_status()
            data = response.content
        else:
            data = (base / where).read_bytes()
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, httpx.HTTPError, UnidentifiedImageError) as exc:
        raise ImageUnreadableError(f"cannot read image {where}: {type(exc).__name__}") from None
    return image


def find_qr_codes(image: Image.Image) -> list[str]:
    """The text of every QR code zxing-cpp finds in the image (rotated, small or inverted)."""
    rgb = image.convert("RGB")
    found = zxingcpp.read_barcodes(rgb, formats=QR_FORMATS, try_rotate=True, try_invert=True)
    return [r.text for r in found]
