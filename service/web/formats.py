"""Numbers, shares and times as the rounds and follow-up pages write them, in the page's language
(Swedish: decimal comma and a thin space between thousands, ``12 345,6``; English: ``12,345.6``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Formats:
    """The formatting functions a template gets as ``f``: ``f.num(3.14159, 2)``, ``f.pct(0.25)``."""

    lang: str

    @property
    def decimal(self) -> str:
        return "," if self.lang == "sv" else "."

    def num(self, value: float | int | None, digits: int = 0) -> str:
        """``value`` with ``digits`` decimals (``–`` for none)."""
        if value is None or value != value:
            return "–"
        text = f"{value:,.{digits}f}"
        if self.lang == "sv":
            text = text.replace(",", "\u202f").replace(".", ",").replace("-", "−")
        return text

    def signed(self, value: float | int | None, digits: int = 1) -> str:
        """``value`` with its sign always written (``+2,5``, ``−1,0``)."""
        if value is None or value != value:
            return "–"
        return ("+" if value >= 0 else "") + self.num(value, digits)

    def pct(self, value: float | None, digits: int = 1) -> str:
        """A share 0..1 as a percentage."""
        if value is None or value != value:
            return "–"
        return self.num(100 * value, digits) + ("\u00a0%" if self.lang == "sv" else "%")

    def sek(self, value: float | int | None) -> str:
        """An amount of crowns, whole."""
        if value is None or value != value:
            return "–"
        return self.num(value, 0) + ("\u00a0kr" if self.lang == "sv" else "\u00a0SEK")

    def when(self, value: dt.datetime | dt.date | str | None) -> str:
        """A time in UTC to the minute, or a day."""
        if value is None:
            return "–"
        if isinstance(value, str):
            if len(value) == 10:  # a day
                return value
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                return str(value)
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC)
            return value.strftime("%Y-%m-%d %H:%M") + " UTC"
        return value.isoformat()
