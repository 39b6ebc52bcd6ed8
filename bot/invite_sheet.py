"""A printable sheet of invites: one card per invite with a QR code per platform link.

A4 at 150 dpi, six cards a page, dashed cut lines. PNG writes one file per page
(sheet.png, or sheet-1.png, sheet-2.png, ...); PDF writes every page into one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

PAGE = (1240, 1754)  # A4 portrait at 150 dpi
DPI = 150
COLUMNS, ROWS = 2, 3
MARGIN = 40
QR_SIDE = 300
SUFFIXES = (".png", ".pdf")


@dataclass(frozen=True, slots=True)
class Card:
    title: str  # the program's name
    subtitle: str  # "peer · Sam R." or "officer · Springfield PD"
    code: str
    links: tuple[tuple[str, str], ...]  # (platform, deep link)


def write_sheet(cards: Sequence[Card], path: Path) -> list[Path]:
    """Render the cards and write them; returns the files written."""
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"the sheet must be a .png or .pdf file, got {path.name!r}")
    per_page = COLUMNS * ROWS
    pages = [_page(cards[start : start + per_page]) for start in range(0, len(cards), per_page)]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".pdf":
        first, *rest = pages
        first.save(path, "PDF", resolution=DPI, save_all=True, append_images=rest)
        return [path]
    if len(pages) == 1:
        pages[0].save(path, "PNG", dpi=(DPI, DPI))
        return [path]
    written = []
    for number, page in enumerate(pages, start=1):
        page_path = path.with_name(f"{path.stem}-{number}{path.suffix}")
        page.save(page_path, "PNG", dpi=(DPI, DPI))
        written.append(page_path)
    return written


def _page(cards: Sequence[Card]) -> Image.Image:
    page = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(page)
    width = (PAGE[0] - 2 * MARGIN) // COLUMNS
    height = (PAGE[1] - 2 * MARGIN) // ROWS
    for index, card in enumerate(cards):
        left = MARGIN + (index % COLUMNS) * width
        top = MARGIN + (index // COLUMNS) * height
        _cut_lines(draw, (left, top, left + width, top + height))
        _card(page, draw, card, (left, top, width, height))
    return page


def _cut_lines(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    left, top, right, bottom = box
    for start in range(left, right, 24):
        draw.line([(start, top), (min(start + 12, right), top)], fill="#999999")
        draw.line([(start, bottom), (min(start + 12, right), bottom)], fill="#999999")
    for start in range(top, bottom, 24):
        draw.line([(left, start), (left, min(start + 12, bottom))], fill="#999999")
        draw.line([(right, start), (right, min(start + 12, bottom))], fill="#999999")


def _card(
    page: Image.Image, draw: ImageDraw.ImageDraw, card: Card, box: tuple[int, int, int, int]
) -> None:
    left, top, width, _height = box
    big = ImageFont.load_default(size=30)
    small = ImageFont.load_default(size=20)
    centre = left + width // 2
    draw.text((centre, top + 24), card.title, font=big, fill="black", anchor="mt")
    draw.text((centre, top + 64), card.subtitle, font=small, fill="#333333", anchor="mt")
    side = QR_SIDE if len(card.links) == 1 else (width - 60) // 2
    gap = (width - side * len(card.links)) // (len(card.links) + 1)
    for number, (platform, link) in enumerate(card.links):
        x = left + gap + number * (side + gap)
        page.paste(_qr(link, side), (x, top + 100))
        label = (
            f"{platform}: scan to join"
            if platform == "Telegram"
            else f"{platform}: scan, send the code"
        )
        draw.text((x + side // 2, top + 108 + side), label, font=small, fill="black", anchor="mt")
    draw.text((centre, top + 150 + side), "Your code:", font=small, fill="#333333", anchor="mt")
    draw.text((centre, top + 178 + side), card.code, font=small, fill="black", anchor="mt")
    draw.text(
        (centre, top + 214 + side),
        "One person, one use. Expires unused.",
        font=small,
        fill="#666666",
        anchor="mt",
    )


def _qr(link: str, side: int) -> Image.Image:
    """A QR code of `link`, `side` pixels square, with the standard quiet zone."""
    rows = list(segno.make(link, error="m", micro=False).matrix_iter(scale=1, border=4))
    modules = len(rows)
    small = Image.new("L", (modules, modules), 255)
    small.putdata([0 if dark else 255 for row in rows for dark in row])
    scale = max(1, side // modules)
    return small.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)
