"""Live: the pipeline as it runs, refreshed from the valuations table every few seconds."""

import pandas as pd
import streamlit as st

from app import context, database, display
from app.charts import freshness, price_by_model, throughput
from app.consumer_lag import consumer_lag
from app.guard import shown_safely
from app.live_metrics import deal_feed, freshness_seconds, per_bucket

REFRESH_S = 5
WINDOW_MIN = 10  # throughput and freshness over the last minutes
PRICE_WINDOW_MIN = 60  # deal feed and price distribution
QUIET_AFTER_S = 60  # newest valuation older than this: say the pipeline looks stopped

st.title("Live valuations")
st.caption(f"Refreshes every {REFRESH_S} s. Throughput and freshness over the last {WINDOW_MIN} minutes; "
           "freshness is produce → stored (Kafka record time to the stored valuation).")


def headline(window: pd.DataFrame, latest: pd.DataFrame) -> None:
    top = st.columns(4)
    fresh = freshness_seconds(window)
    top[0].metric(f"Valuations, last {WINDOW_MIN} min", f"{len(window):,}")
    top[1].metric("Throughput", f"{len(window) / (WINDOW_MIN * 60):.1f} /s")
    top[2].metric("Freshness p50 / p95",
                  f"{fresh.quantile(.5):.2f} / {fresh.quantile(.95):.2f} s" if len(fresh) else "–")
    versions = latest["model_version"].value_counts()
    top[3].metric("Champion model in use", versions.index[0],
                  help="model version of the newest valuations" + (
                      f"; also among them: {', '.join(versions.index[1:])}" if len(versions) > 1 else ""))
    quiet_s = (database.now() - latest["created_at"].max()).total_seconds()
    if quiet_s > QUIET_AFTER_S:
        st.warning(f"The newest valuation was stored {display.age(quiet_s)} ago: "
                   "the scorer or the producers may have stopped.")


def latest_table(latest: pd.DataFrame, currency: str) -> None:
    view = latest.assign(
        car=latest["brand"] + " " + latest["model"] + " " + latest["year"].astype(str),
        mileage=latest["mileage"].map(lambda km: f"{km:,.0f} km"),
        asking=latest["asking_price"].map(lambda v: display.money(v, currency)),
        estimate=latest["predicted_price"].map(lambda v: display.money(v, currency)),
        interval=[f"{display.money(lo, currency)} – {display.money(hi, currency)}"
                  for lo, hi in zip(latest["price_low"], latest["price_high"])],
        rating=latest["deal_rating"].map(display.rating_label),
        stored=latest["created_at"].dt.strftime("%H:%M:%S"),
    )[["stored", "car", "region", "mileage", "asking", "estimate", "interval", "rating", "model_version"]]
    st.dataframe(view.style.map(display.rating_badge_style, subset=["rating"]), hide_index=True, width="stretch")


def deals(recent: pd.DataFrame, currency: str) -> None:
    feed = deal_feed(recent)
    if feed.empty:
        st.info(f"No listing below its estimate in the last {PRICE_WINDOW_MIN} minutes.")
    for _, deal in feed.iterrows():
        st.markdown(
            f"**{deal['brand']} {deal['model']} {deal['year']}** · {deal['mileage']:,.0f} km · {deal['region']}  \n"
            f"asking **{display.money(deal['asking_price'], currency)}**, estimate "
            f"{display.money(deal['predicted_price'], currency)} · :green-badge[{display.money(deal['below'], currency)}"
            f" below ({deal['below_share']:.0%})] {display.rating_label(deal['deal_rating'])}")


def dead_letters(reasons: pd.DataFrame) -> None:
    st.metric("Dead letters", f"{int(reasons['count'].sum()) if len(reasons) else 0:,}")
    if len(reasons):
        st.dataframe(reasons, hide_index=True, width="stretch",
                     column_config={"last_seen": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")})


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    settings = context.settings()
    currency = settings.market_currency
    engine = context.engine(settings.database)
    data = {}
    with shown_safely("Valuations database"):
        data["recent"] = database.valuations_since(engine, PRICE_WINDOW_MIN)
        data["latest"] = database.latest_valuations(engine, 20)
        data["dead"] = database.dead_letter_reasons(engine)
    stored = len(data) == 3
    if stored and data["latest"].empty:
        st.info("No valuations stored yet: start the scorer (`autovalue score`) and a producer.")
    elif stored:
        recent = data["recent"]
        window = recent[recent["created_at"] >= database.now() - pd.Timedelta(minutes=WINDOW_MIN)]
        headline(window, data["latest"])
        st.subheader("Latest valuations")
        latest_table(data["latest"], currency)
        if not window.empty:
            buckets = per_bucket(window)
            left, right = st.columns(2)
            left.markdown("**Throughput**")
            left.altair_chart(throughput(buckets), width="stretch")
            right.markdown("**Freshness (produce → stored)**")
            right.altair_chart(freshness(buckets), width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Deal feed")
        if stored:
            with shown_safely("Deal feed"):
                deals(data["recent"], currency)
    with right:
        st.subheader("Consumer lag")
        with shown_safely("Consumer lag"):
            lag = consumer_lag(settings)
            st.metric(f"Listings waiting (group {settings.consumer_group})", f"{int(lag['lag'].sum()):,}")
            st.dataframe(lag, hide_index=True, width="stretch")
        st.subheader("Dead letters")
        if stored:
            with shown_safely("Dead letters"):
                dead_letters(data["dead"])

    if stored and not data["recent"].empty:
        st.subheader(f"Estimated prices per model, last {PRICE_WINDOW_MIN} minutes")
        with shown_safely("Price distribution"):
            st.altair_chart(price_by_model(data["recent"], currency), width="stretch")


live()
