"""Live accuracy: the valuations users saw against what the listings then sold for, from the
outcomes table (`autovalue outcomes`). The figures are autovalue.accuracy's."""

import pandas as pd
import streamlit as st

from app import context, database, display
from app.charts import coverage_over_time, mape_over_time
from app.guard import shown_safely
from autovalue import accuracy
from market.io import read_meta

REFRESH_S = 10
WINDOWS = {"last 15 minutes": 15, "last hour": 60, "last 6 hours": 6 * 60, "last 24 hours": 24 * 60}
RATING_ORDER = ["great", "good", "fair", "high", "overpriced", accuracy.NO_RATING]

st.title("Live accuracy")
st.caption("What each listing sold for (or that it was withdrawn), against the valuation shown when it "
           f"arrived. Refreshes every {REFRESH_S} s; the window is by the time the outcome became known.")
window = st.selectbox("Window", list(WINDOWS), index=1, key="window")


def noise_floor() -> float | None:
    """The simulated market's noise floor (the MAPE a perfect model gets), when there is one."""
    settings = context.settings()
    try:
        return read_meta(settings.raw_dir, settings.market_source).get("noise_floor_mape")
    except (OSError, ValueError):
        return None


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}%}"


def headline(figures: accuracy.Accuracy) -> None:
    top = st.columns(4)
    top[0].metric("Outcomes", f"{figures.outcomes:,}",
                  help=f"{figures.joined:,} of them with their valuation stored")
    top[1].metric("Sales judged", f"{figures.sold:,}", help="sold listings whose valuation is stored")
    floor = noise_floor()
    top[2].metric("Live MAPE", percent(figures.mape),
                  help="mean |sold / estimate − 1|" + (f"; the market's noise floor is {floor:.2%}" if floor else ""))
    top[3].metric("80% interval coverage", percent(figures.coverage),
                  help="share of the sales whose price fell inside the valuation's 80% interval")
    if floor and figures.mape is not None:
        st.caption(f"Live MAPE = {figures.mape / floor:.2f} × the noise floor ({floor:.2%}), "
                   "the error a perfect model would still make on this market.")


def check(flagged: bool, clearly_biased: bool) -> str:
    tolerance = f"±{accuracy.BIAS_TOLERANCE:.0%}"
    if clearly_biased:
        return f"biased: the whole interval is outside {tolerance}"
    return f"outside {tolerance}, within its sales' noise" if flagged else ""


def bias_table(bias: pd.DataFrame) -> None:
    view = pd.DataFrame({
        "car": bias["brand"] + " " + bias["model"], "sales": bias["sold"],
        "median sold / estimate": bias["median_ratio"],
        "95% interval": [f"{low:.3f} – {high:.3f}" for low, high in zip(bias["low"], bias["high"])],
        "bias": bias["bias"].map(lambda b: f"{b:+.1%}"),
        "check": [check(flagged, clear) for flagged, clear in zip(bias["flagged"], bias["clearly_biased"])],
    })

    def highlight(row: pd.Series) -> list[str]:
        return ["background-color: #f5b971; font-weight: 600" if row["check"] else ""] * len(row)

    styled = view.style.apply(highlight, axis=1).format({"median sold / estimate": "{:.3f}"})
    st.dataframe(styled, hide_index=True, width="stretch")


def rating_shares(figures: accuracy.Accuracy) -> None:
    shares = pd.DataFrame({"deal rating": [display.rating_label(None if r == accuracy.NO_RATING else r)
                                           for r in RATING_ORDER],
                           "share": [percent(figures.rating_shares.get(r, 0.0)) for r in RATING_ORDER]})
    st.dataframe(shares, hide_index=True, width="stretch")


def version_table(versions: pd.DataFrame) -> None:
    shadowed = versions["shadow_sold"] > 0
    view = pd.DataFrame({"model": versions["model_version"], "sales": versions["sold"],
                         "MAPE": versions["mape"].map(percent), "inside 80% interval": versions["coverage"].map(percent),
                         "outcomes from": versions["first"].map(lambda t: t.strftime("%H:%M:%S")),
                         "replaced model (shadow)": versions["shadow_version"].where(shadowed, "–"),
                         "its MAPE, same sales": versions["shadow_mape"].where(shadowed).map(percent),
                         "this model's, same sales": versions["mape_on_shadowed"].where(shadowed).map(percent)})
    st.dataframe(view, hide_index=True, width="stretch")


def confidence_table(levels: pd.DataFrame) -> None:
    view = pd.DataFrame({"confidence": levels["confidence"], "sales": levels["sold"],
                         "MAPE": levels["mape"].map(percent), "inside 80% interval": levels["coverage"].map(percent)})
    st.dataframe(view, hide_index=True, width="stretch")


@st.fragment(run_every=REFRESH_S)
def live_accuracy(minutes: int) -> None:
    settings = context.settings()
    with shown_safely("Outcomes"):
        frame = database.outcomes_since(context.engine(settings.database), minutes)
        if frame.empty:
            st.info(f"No outcomes in the {window} yet: they arrive as listings sell or are withdrawn "
                    "(`autovalue outcomes` stores them; the simulator lets "
                    f"{settings.market_days_per_minute:g} market days pass per minute).")
            return
        figures = accuracy.summary(frame)
        headline(figures)
        buckets = accuracy.over_time(frame)
        left, right = st.columns(2)
        left.markdown("**Live MAPE per minute**")
        left.altair_chart(mape_over_time(buckets), width="stretch")
        right.markdown("**Sales inside the 80% interval per minute**")
        right.altair_chart(coverage_over_time(buckets), width="stretch")
        left, right = st.columns([2, 1])
        with left:
            st.subheader("Bias per car model")
            st.caption(f"Median sold price / estimate over the sales in the window. Highlighted: at least "
                       f"{accuracy.MIN_MODEL_OUTCOMES} sales and a median off by more than "
                       f"±{accuracy.BIAS_TOLERANCE:.0%}.")
            bias_table(accuracy.model_bias(frame))
        with right:
            st.subheader("Deal ratings")
            st.caption("Shares among the valuations that got an outcome. The bands put 10 / 20 / 40 / 20 / 10% "
                       "of a market's asking prices in great / good / fair / high / overpriced.")
            rating_shares(figures)
            st.subheader("By confidence")
            st.caption("Each level's interval is calibrated to hold 80% of sales.")
            confidence_table(accuracy.by_confidence(frame))
            st.subheader("By model")
            st.caption("Each champion on the sales it valued, in the order they served: a promotion "
                       "(`autovalue retrain`, `autovalue champion set`) starts a row. From a promotion on, "
                       "the service also scores the champion it replaced in shadow: its MAPE on the same sales "
                       "is what keeping it would have given. The Model page shows each retrain's challenger "
                       "and champion on the same sales.")
            version_table(accuracy.by_version(frame))


live_accuracy(WINDOWS[window])
