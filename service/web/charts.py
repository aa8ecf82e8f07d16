"""Bar charts drawn on the server as SVG, for pages that also show the same numbers as a table.

A chart is an image for sighted readers; its ``<title>`` and ``<desc>`` name it and the page puts a
table with the same figures beside it, for screen readers and for anyone who wants the numbers. Bars
carry their value as text, and a second series is drawn as an outline where the first is filled, so
that no series is told apart by colour alone. No script, no style attribute (the pages' CSP allows
neither): presentation attributes only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count

from markupsafe import Markup, escape

#: Fill and outline of the two series: the stylesheet's accent (8.3:1 on white) and its text colour.
FILL = "#0b4f8a"
OUTLINE = "#1b1b1b"
_ids = count(1)


@dataclass(frozen=True)
class Bar:
    """One row of a chart: its label and one value per series (None: nothing to draw, e.g. suppressed)."""

    label: str
    values: tuple[float | None, ...]


def bar_chart(title: str, bars: Sequence[Bar], series: Sequence[str], *,
              value_text: Callable[[float], str] = lambda v: f"{v:g}", description: str = "",
              width: int = 560) -> Markup:
    """Horizontal bars, one group per row of ``bars``, one bar per series (at most two).

    Parameters
    ----------
    title
        The chart's name, as its ``<title>`` (and accessible name).
    bars
        The rows, drawn top to bottom.
    series
        The series' names, in the order of each bar's ``values``; the legend shows them beside a
        filled and an outlined box.
    value_text
        How a value is written at the end of its bar.
    """
    if not 1 <= len(series) <= 2:
        raise ValueError("a chart shows one or two series")
    label_w, value_w, bar_h, gap = 190, 70, 14, 10
    group_h = bar_h * len(series) + gap
    legend_h = 22 if len(series) > 1 else 0
    height = legend_h + max(1, len(bars)) * group_h + 8
    top = max([v for b in bars for v in b.values if v is not None] + [0.0]) or 1.0
    span = width - label_w - value_w
    uid = f"chart-{next(_ids)}"
    parts = [Markup('<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="{h}" '
                    'viewBox="0 0 {w} {h}" aria-labelledby="{u}-title{d}" class="chart">').format(
                        w=width, h=height, u=uid, d=Markup(f" {uid}-desc") if description else ""),
             Markup('<title id="{}-title">{}</title>').format(uid, title)]
    if description:
        parts.append(Markup('<desc id="{}-desc">{}</desc>').format(uid, description))
    if len(series) > 1:
        for i, name in enumerate(series):
            x = label_w + i * 180
            parts.append(_rect(x, 4, 12, 12, i))
            parts.append(Markup('<text x="{}" y="14" font-size="12" fill="{}">{}</text>').format(
                x + 18, OUTLINE, name))
    for row, bar in enumerate(bars):
        y0 = legend_h + row * group_h
        label = Markup('<text x="{}" y="{}" font-size="12" text-anchor="end" fill="{}">{}</text>')
        parts.append(label.format(label_w - 8, y0 + group_h / 2, OUTLINE, _short(bar.label)))
        for i, value in enumerate(bar.values):
            y = y0 + i * bar_h
            if value is None:
                continue
            length = max(1.0, span * value / top) if value > 0 else 0.0
            if length:
                parts.append(_rect(label_w, y + 1, length, bar_h - 3, i))
            parts.append(Markup('<text x="{}" y="{}" font-size="11" fill="{}">{}</text>').format(
                round(label_w + length + 4, 1), y + bar_h - 3, OUTLINE, value_text(value)))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _rect(x: float, y: float, w: float, h: float, series: int) -> Markup:
    if series == 0:
        return Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>').format(
            round(x, 1), round(y, 1), round(w, 1), round(h, 1), FILL)
    return Markup('<rect x="{}" y="{}" width="{}" height="{}" fill="#ffffff" stroke="{}" stroke-width="1.5"/>'
                  ).format(round(x, 1), round(y, 1), round(w, 1), round(h, 1), OUTLINE)


def _short(label: str, most: int = 28) -> Markup:
    text = label if len(label) <= most else label[:most - 1] + "…"
    return escape(text)
