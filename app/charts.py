"""Altair charts of the dashboard. Money axes are in the market's display unit (Rp juta)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from app.display import age, money, unit

STATE_COLOURS = alt.Scale(domain=["stable", "watch", "warn", "no data"],
                          range=["#2e7d32", "#f9a825", "#c62828", "#9e9e9e"])


def _money_title(currency: str) -> str:
    symbol, suffix, _ = unit(currency)
    return f"{symbol} {suffix}".strip()


def throughput(buckets: pd.DataFrame) -> alt.Chart:
    return alt.Chart(buckets).mark_bar(color="#1565c0").encode(
        x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")), y=alt.Y("per_second:Q", title="valuations / s"),
        tooltip=[alt.Tooltip("time:T", format="%H:%M:%S"), alt.Tooltip("per_second:Q", format=".1f")],
    ).properties(height=200)


def freshness(buckets: pd.DataFrame) -> alt.Chart:
    long = buckets.melt(id_vars="time", value_vars=["p50", "p95"], var_name="percentile", value_name="seconds")
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")),
        y=alt.Y("seconds:Q", title="produce → stored (s)"),
        color=alt.Color("percentile:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=["percentile", alt.Tooltip("seconds:Q", format=".2f")],
    ).properties(height=200)


def price_by_model(frame: pd.DataFrame, currency: str, top: int = 12) -> alt.Chart:
    """Box plot of estimated prices for the most listed models."""
    _, _, size = unit(currency)
    frame = frame.assign(car=frame["brand"] + " " + frame["model"], price=frame["predicted_price"] / size)
    busiest = frame["car"].value_counts().head(top).index
    frame = frame[frame["car"].isin(busiest)]
    order = frame.groupby("car")["price"].median().sort_values(ascending=False).index.tolist()
    # One row per model, each labelled: Vega-Lite would drop labels it finds crowded.
    return alt.Chart(frame[["car", "price"]]).mark_boxplot(extent="min-max", color="#1565c0", size=16).encode(
        y=alt.Y("car:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=260)),
        x=alt.X("price:Q", title=f"estimated price ({_money_title(currency)})"),
    ).properties(height=alt.Step(28))


def value_waterfall(predicted: float, drivers: list, currency: str) -> alt.LayerChart:
    """Waterfall from the base value through the top contributions to the estimate. The base
    is whatever the shown drivers do not explain (the model's base and the smaller drivers)."""
    _, _, size = unit(currency)
    base = predicted - sum(d.amount for d in drivers)
    steps = [("base value", 0.0, base, "base")]
    level = base
    for driver in drivers:
        steps.append((driver.feature, level, level + driver.amount,  # the bar text shows the amount
                      "raises" if driver.amount >= 0 else "lowers"))
        level += driver.amount
    steps.append(("estimate", 0.0, predicted, "estimate"))
    frame = pd.DataFrame(steps, columns=["step", "start", "end", "effect"])
    frame["text"] = [money(e, currency) if k in ("base", "estimate") else
                     ("+" if e >= s else "−") + money(abs(e - s), currency)
                     for s, e, k in zip(frame["start"], frame["end"], frame["effect"])]
    frame[["start", "end"]] = frame[["start", "end"]] / size
    frame["top"] = frame[["start", "end"]].max(axis=1)  # labels sit above each bar, never on it
    frame["order"] = range(len(frame))
    colours = alt.Scale(domain=["base", "raises", "lowers", "estimate"],
                        range=["#90a4ae", "#2e7d32", "#c62828", "#1565c0"])
    x = alt.X("step:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelAngle=0, labelLimit=180))
    bars = alt.Chart(frame).mark_bar(size=46).encode(
        x=x, y=alt.Y("start:Q", title=_money_title(currency)), y2="end:Q",
        color=alt.Color("effect:N", scale=colours, legend=None), tooltip=["step", "text"])
    labels = alt.Chart(frame).mark_text(dy=-9, fontWeight="bold").encode(
        x=x, y=alt.Y("top:Q"), text="text:N",
        color=alt.Color("effect:N", legend=None, scale=alt.Scale(  # the bars' colours, darker for text
            domain=["base", "raises", "lowers", "estimate"], range=["#455a64", "#1b5e20", "#b71c1c", "#0d47a1"])))
    return (bars + labels).properties(height=320)


def psi_bars(table: pd.DataFrame, watch: float, warn: float) -> alt.Chart:
    data = table.assign(psi=table["psi"].fillna(0))
    bars = alt.Chart(data).mark_bar().encode(
        y=alt.Y("feature:N", sort="-x", title=None), x=alt.X("psi:Q", title="population stability index"),
        color=alt.Color("state:N", scale=STATE_COLOURS, legend=alt.Legend(orient="top", title=None)),
        tooltip=["feature", alt.Tooltip("psi:Q", format=".3f"), "state"])
    rules = alt.Chart(pd.DataFrame({"x": [watch, warn]})).mark_rule(strokeDash=[4, 4], color="#616161").encode(x="x:Q")
    return (bars + rules).properties(height=30 * len(data) + 40)


AGE_TICKS = [1, 10, 60, 600, 3600, 6 * 3600, 86_400, 2 * 86_400, 7 * 86_400]
AGE_LABEL = ("datum.value < 60 ? datum.value + ' s' : datum.value < 3600 ? datum.value / 60 + ' min' : "
             "datum.value < 86400 ? datum.value / 3600 + ' h' : datum.value / 86400 + ' d'")


def feature_age(ages: pd.DataFrame, stale_after_s: float) -> alt.LayerChart:
    """One row per car model, a dot per market level at its age, on a log scale: a row pushed
    seconds ago and a batch row from midnight are both visible."""
    data = ages.dropna(subset=["age_s"]).assign(seconds=lambda f: f["age_s"].clip(lower=1))
    data["age"] = data["age_s"].map(age)
    levels = alt.Scale(domain=["model", "brand", "segment"], range=["#1565c0", "#ef6c00", "#757575"])
    dots = alt.Chart(data).mark_point(filled=True, size=50, opacity=0.9).encode(
        y=alt.Y("car:N", title=None, sort="ascending", axis=alt.Axis(labelOverlap=False, labelLimit=220)),
        yOffset=alt.YOffset("level:N", sort=["model", "brand", "segment"]),  # levels of the same age stay apart
        x=alt.X("seconds:Q", scale=alt.Scale(type="log", domain=[1, max(AGE_TICKS[-1], float(data["seconds"].max()))]),
                title="age of the market statistics (log scale)", axis=alt.Axis(values=AGE_TICKS, labelExpr=AGE_LABEL)),
        color=alt.Color("level:N", scale=levels, legend=alt.Legend(orient="top", title="market level")),
        shape=alt.Shape("level:N", scale=alt.Scale(domain=["model", "brand", "segment"],
                                                    range=["circle", "square", "triangle-up"])),
        tooltip=["car", "level", "age"])
    rule = alt.Chart(pd.DataFrame({"x": [stale_after_s]})).mark_rule(strokeDash=[4, 4], color="#c62828").encode(x="x:Q")
    return (dots + rule).properties(height={"step": 24, "for": "position"})  # per car, not per level


def mape_over_time(buckets: pd.DataFrame) -> alt.Chart:
    """Live MAPE per bucket, with the sales it rests on in the tooltip."""
    return alt.Chart(buckets.dropna(subset=["mape"])).mark_line(point=True, color="#1565c0").encode(
        x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")),
        y=alt.Y("mape:Q", title="MAPE", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("time:T", format="%H:%M"), alt.Tooltip("mape:Q", format=".1%"), "sold:Q"],
    ).properties(height=200)


def coverage_over_time(buckets: pd.DataFrame, target: float = 0.8) -> alt.Chart:
    """Share of sales inside the interval per bucket; the dashed line is the interval's promise."""
    line = alt.Chart(buckets.dropna(subset=["coverage"])).mark_line(point=True, color="#2e7d32").encode(
        x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")),
        y=alt.Y("coverage:Q", title="inside the 80% interval", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("time:T", format="%H:%M"), alt.Tooltip("coverage:Q", format=".0%"), "sold:Q"])
    rule = alt.Chart(pd.DataFrame({"y": [target]})).mark_rule(strokeDash=[4, 4], color="#616161").encode(y="y:Q")
    return (line + rule).properties(height=200)
