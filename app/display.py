"""How numbers look on screen: money in the market's currency, ages, deal-rating badges.

One style for the whole app. For rupiah the unit is the juta (million), written the way
Indonesian listings do it, "Rp 185.4 jt"; other currencies get their code and whole units.
"""

from __future__ import annotations

import math
import re

# currency -> (symbol, unit suffix, unit size)
CURRENCY_UNITS = {"IDR": ("Rp", "jt", 1_000_000)}

RATING_LABELS = {
    "great": "great deal", "good": "good deal", "fair": "fair price", "high": "high price",
    "overpriced": "overpriced",
}
# Cell colours of the rating badges (background, text): green for deals, red for overpriced.
RATING_COLOURS = {
    "great": ("#1b7f3b", "white"), "good": ("#8fd19e", "black"), "fair": ("#e0e0e0", "black"),
    "high": ("#f5b971", "black"), "overpriced": ("#c62828", "white"),
}


def unit(currency: str) -> tuple[str, str, float]:
    return CURRENCY_UNITS.get(currency, (currency, "", 1))


def money(value: float | None, currency: str) -> str:
    """185_400_000 IDR -> "Rp 185.4 jt"; None/NaN -> "–"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    symbol, suffix, size = unit(currency)
    if suffix:
        return f"{symbol} {value / size:,.1f} {suffix}"
    return f"{symbol} {value:,.0f}"


def km(value: float | None) -> str:
    """85000 -> "85,000 km"; a listing without mileage (None/NaN) -> "mileage not given"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "mileage not given"
    return f"{value:,.0f} km"


def money_range(low: float | None, high: float | None, currency: str) -> str:
    """An interval with its unit once: "Rp 180.9 – 231.2 jt" (short enough not to be cut off)."""
    if any(v is None or (isinstance(v, float) and not math.isfinite(v)) for v in (low, high)):
        return "–"
    symbol, suffix, size = unit(currency)
    if suffix:
        return f"{symbol} {low / size:,.1f} – {high / size:,.1f} {suffix}"
    return f"{symbol} {low:,.0f} – {high:,.0f}"


def signed_money(value: float, currency: str) -> str:
    return ("+" if value >= 0 else "−") + money(abs(value), currency)


def rating_label(rating: str | None) -> str:
    return RATING_LABELS.get(rating or "", "no asking price")


def rating_badge_style(label: str) -> str:
    """CSS for a rating cell in a pandas Styler (the label as rating_label writes it)."""
    for rating, text in RATING_LABELS.items():
        if label == text:
            background, colour = RATING_COLOURS[rating]
            return f"background-color: {background}; color: {colour}; font-weight: 600"
    return ""


def age(seconds: float | None) -> str:
    """Seconds -> "42 s", "7.5 min", "3.2 h", "2.1 days"."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def parse_whole_number(text: str) -> int:
    """"85,000", "85.000" (Indonesian), "85 000" or "85000" -> 85000; "85.5" or "abc": ValueError
    (separators must group thousands, so a decimal point is never read as one)."""
    text = text.strip()
    if not re.fullmatch(r"\d+|\d{1,3}(,\d{3})+|\d{1,3}(\.\d{3})+|\d{1,3}( \d{3})+", text):
        raise ValueError(f"{text!r} is not a whole number")
    return int(re.sub(r"\D", "", text))
