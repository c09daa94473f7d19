"""Charts of one car model's market with the car being valued marked on them: its price over time,
and how the price falls with model year and with mileage. Money in the display unit (Rp juta)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from app.display import unit

CAR_COLOUR = "#ef6c00"
MEDIAN_COLOUR = "#1565c0"


def _money_title(currency: str) -> str:
    symbol, suffix, _ = unit(currency)
    return f"{symbol} {suffix}".strip()


def _this_car(x: str, value, estimate: float, low: float, high: float, size: float) -> alt.LayerChart:
    """The valued car: its estimate as a diamond, its 80% interval as a bar through it. `x` is
    the shared x encoding ("field:type")."""
    car = pd.DataFrame({x.split(":")[0]: [value], "estimate": [estimate / size], "low": [low / size],
                        "high": [high / size], "label": ["this car"]})
    base = alt.Chart(car)
    tooltip = [alt.Tooltip("estimate:Q", format=",.1f", title="estimate"),
               alt.Tooltip("low:Q", format=",.1f", title="80% low"),
               alt.Tooltip("high:Q", format=",.1f", title="80% high")]
    interval = base.mark_rule(color=CAR_COLOUR, strokeWidth=3).encode(x=x, y="low:Q", y2="high:Q")
    point = base.mark_point(shape="diamond", filled=True, size=160, color=CAR_COLOUR).encode(
        x=x, y="estimate:Q", tooltip=tooltip)
    label = base.mark_text(color=CAR_COLOUR, align="left", dx=9, fontWeight="bold").encode(
        x=x, y="estimate:Q", text="label:N")
    return interval + point + label


def price_over_time(weeks: pd.DataFrame, currency: str, today: pd.Timestamp, estimate: float, low: float,
                    high: float) -> alt.LayerChart:
    _, _, size = unit(currency)
    long = weeks.melt(id_vars="week", value_vars=["median_asking", "median_sold"], var_name="series",
                      value_name="price").dropna()
    long["price"] = long["price"] / size
    long["series"] = long["series"].map({"median_asking": "median asking price", "median_sold": "median sold price"})
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("week:T", title=None, axis=alt.Axis(format="%d %b")),
        y=alt.Y("price:Q", title=_money_title(currency), scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", scale=alt.Scale(domain=["median asking price", "median sold price"],
                                                    range=["#90a4ae", MEDIAN_COLOUR]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("week:T", format="%Y-%m-%d"), "series", alt.Tooltip("price:Q", format=",.1f")])
    now = today.tz_localize(None) if today.tzinfo else today
    return (lines + _this_car("week:T", now, estimate, low, high, size)).properties(height=240)


def depreciation(curve: pd.DataFrame, x: str, x_title: str, x_format: str, car_x: float, currency: str,
                 estimate: float, low: float, high: float) -> alt.LayerChart:
    """Median sold price (line) and its middle half (band) against `x`, with the car marked."""
    _, _, size = unit(currency)
    data = curve.assign(median=curve["median"] / size, q25=curve["q25"] / size, q75=curve["q75"] / size)
    axis_x = alt.X(f"{x}:Q", title=x_title, axis=alt.Axis(format=x_format), scale=alt.Scale(zero=False, nice=False))
    band = alt.Chart(data).mark_area(opacity=0.25, color=MEDIAN_COLOUR).encode(x=axis_x, y="q25:Q", y2="q75:Q")
    line = alt.Chart(data).mark_line(point=True, color=MEDIAN_COLOUR).encode(
        x=axis_x, y=alt.Y("median:Q", title=f"sold price ({_money_title(currency)})", scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip(f"{x}:Q", format=x_format, title=x_title), alt.Tooltip("median:Q", format=",.1f"),
                 alt.Tooltip("q25:Q", format=",.1f", title="25th percentile"),
                 alt.Tooltip("q75:Q", format=",.1f", title="75th percentile"), "sales:Q"])
    return (band + line + _this_car(f"{x}:Q", car_x, estimate, low, high, size)).properties(height=240)
