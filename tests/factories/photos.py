"""Photos of a meter's register as a phone would send them: small real pictures made with Pillow, and impostors."""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFont


def picture(*, fmt: str = "PNG", size: tuple[int, int] = (64, 48), text: str = "07100") -> bytes:
    """A small picture in ``fmt`` (PNG, JPEG, WEBP): a white dial with dark digits drawn on it."""
    image = Image.new("RGB", size, (245, 245, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((2, size[1] // 4, size[0] - 3, size[1] * 3 // 4), outline=(40, 40, 40), width=max(1, size[0] // 100))
    draw.text((size[0] // 10, size[1] // 3), text, fill=(20, 20, 20), font=ImageFont.load_default(size=size[1] // 4))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def png(**kwargs) -> bytes:
    return picture(fmt="PNG", **kwargs)


def jpeg(**kwargs) -> bytes:
    return picture(fmt="JPEG", **kwargs)


def webp(**kwargs) -> bytes:
    return picture(fmt="WEBP", **kwargs)


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00" \
      b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML_AS_JPEG = b"<html><script>alert(document.cookie)</script></html>"


def truncated_png() -> bytes:
    """A PNG signature and header with the picture cut off: the bytes say PNG, the picture does not open."""
    return png(size=(200, 200))[:60]


def noisy_png(*, size: tuple[int, int] = (200, 200)) -> bytes:
    """A PNG that does not compress (random pixels): about 3 bytes a pixel, for the size limit."""
    image = Image.frombytes("RGB", size, random.Random(18).randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def turned_jpeg(*, size: tuple[int, int] = (400, 200)) -> bytes:
    """A JPEG stored landscape with EXIF orientation 6 (the phone was held upright): shown portrait."""
    image = Image.open(io.BytesIO(jpeg(size=size)))
    exif = image.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()
