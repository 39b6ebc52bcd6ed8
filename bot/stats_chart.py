"""A chart a coordinator can paste into a report: requests per week (bars) and the share met
within the contact goal (dots), drawn from a k-anonymous `stats.Report` with Pillow.

A week whose count is suppressed is drawn as a grey outline labelled "<k", never as a number.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.stats import Report

SIZE = (1200, 700)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 90, 90, 130, 110
BAR = "#2f6f9f"
GOAL = "#d9822b"
HIDDEN = "#9a9a9a"


def render_chart(report: Report, path: Path, *, title: str = "Requests per week") -> Path:
    """Write the chart as PNG to `path` and return it."""
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    big = ImageFont.load_default(size=30)
    small = ImageFont.load_default(size=18)
    width, height = SIZE
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    draw.text((width // 2, 24), title, font=big, fill="black", anchor="mt")
    legend = f"bars: requests; x = hidden (under {report.k}, or it would give such a week away)"
    draw.text((width // 2, 66), legend, font=small, fill=BAR, anchor="mt")
    goal_legend = "dots: share of the week's requests met within the goal (right axis)"
    draw.text((width // 2, 92), goal_legend, font=small, fill=GOAL, anchor="mt")
    weeks = report.weeks
    counts = [w.requests for w in weeks]
    highest = max((c for c in counts if c is not None), default=0)
    scale_max = max(report.k, _nice_ceiling(math.ceil(highest * 1.1)))  # room for labels
    _axes(draw, (left, top, right, bottom), scale_max, small)
    if not weeks:
        draw.text(
            ((left + right) // 2, (top + bottom) // 2),
            "no requests yet",
            font=big,
            fill=HIDDEN,
            anchor="mm",
        )
        image.save(path, format="PNG")
        return path
    slot = (right - left) / len(weeks)
    bar_width = max(4.0, slot * 0.6)
    dots: list[tuple[float, float]] = []
    labels: list[tuple[float, float, str, str]] = []  # drawn last, over the goal line
    for index, week in enumerate(weeks):
        centre = left + slot * (index + 0.5)
        x0, x1 = centre - bar_width / 2, centre + bar_width / 2
        if week.requests is None:
            y = bottom - (bottom - top) * (report.k / scale_max)
            draw.rectangle([x0, y, x1, bottom - 1], outline=HIDDEN, width=2)
            labels.append((centre, y - 6, "x", HIDDEN))
        else:
            y = bottom - (bottom - top) * (week.requests / scale_max)
            if week.requests:
                draw.rectangle([x0, y, x1, bottom - 1], fill=BAR)
            labels.append((centre, y - 6, str(week.requests), "black"))
        if week.within_goal is not None:
            dots.append((centre, bottom - (bottom - top) * week.within_goal))
        label = week.week.strftime("%d %b")
        draw.text((centre, bottom + 12), label, font=small, fill="black", anchor="mt")
    if len(dots) > 1:
        draw.line(dots, fill=GOAL, width=3)
    for x, y in dots:
        draw.ellipse([x - 7, y - 7, x + 7, y + 7], fill=GOAL, outline="white", width=2)
    for x, y, text, colour in labels:
        draw.text(
            (x, y), text, font=small, fill=colour, anchor="mb", stroke_width=4, stroke_fill="white"
        )
    draw.text(
        ((left + right) // 2, height - 40),
        "week starting (Monday)",
        font=small,
        fill="#333333",
        anchor="mm",
    )
    image.save(path, format="PNG")
    return path


def _axes(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    scale_max: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    """Counts on the left, the share (0-100%) on the right, light lines at each quarter."""
    left, top, right, bottom = box
    draw.line([(left, top), (left, bottom), (right, bottom), (right, top)], fill="black", width=2)
    for step in range(5):
        y = bottom - (bottom - top) * step / 4
        draw.line([(left - 6, y), (left, y)], fill="black", width=2)
        draw.text((left - 10, y), f"{scale_max * step // 4}", font=font, fill="black", anchor="rm")
        draw.text((right + 10, y), f"{25 * step}%", font=font, fill=GOAL, anchor="lm")
        if step:
            draw.line([(left + 1, y), (right - 1, y)], fill="#e6e6e6", width=1)


def _nice_ceiling(value: int) -> int:
    """A round axis top at or above `value` whose quarters are whole numbers."""
    for step in (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 50, 100, 250, 500, 1000, 2500):
        if value <= 4 * step:
            return 4 * step
    return 4 * 1000 * -(-value // 4000)
