"""Live: the pipeline as it runs, refreshed from the valuations table every few seconds, with a
banner on top when the service, the broker or the database is down."""

import pandas as pd
import streamlit as st

from app import context, database, display, status
from app.charts import freshness, price_by_model, throughput
from app.consumer_lag import consumer_lag
from app.guard import DatabaseUnavailable, NoData, shown_safely
from app.live_metrics import deal_feed, freshness_seconds, per_bucket
from app.live_metrics import throughput as throughput_figures
from app.scorers import scorer_view
from autovalue.market_attributes import market_currency

REFRESH_S = 5
WINDOW_MIN = 10  # the throughput and freshness charts
PRICE_WINDOW_MIN = 60  # deal feed and price distribution
STREAM_LOOKBACK_H = 6  # how far back the stream's start is looked for
QUIET_AFTER_S = 60  # newest valuation older than this while every part answers: say so

st.title("Live valuations")
st.caption(f"Refreshes every {REFRESH_S} s. Charts over the last {WINDOW_MIN} minutes; freshness is "
           "produce → stored (Kafka record time to the stored valuation).")


def headline(data: dict, parts: status.Parts) -> None:
    now = database.now()
    recent, latest = data["recent"], data["latest"]
    rates = throughput_figures(data["minutes"], recent["created_at"], pd.Timestamp(now), STREAM_LOOKBACK_H)
    window = recent[recent["created_at"] >= now - pd.Timedelta(minutes=WINDOW_MIN)]
    fresh = freshness_seconds(window)
    top = st.columns(4)
    top[0].metric("Throughput since start", f"{rates.since_start:.1f} /s",
                  help="valuations per second since the stream's first valuation after a pause of 2 minutes "
                       f"or more (looked for over the last {STREAM_LOOKBACK_H} h)")
    top[1].metric("Throughput, last minute", f"{rates.last_minute:.1f} /s")
    top[2].metric(f"Freshness p50 / p95, last {WINDOW_MIN} min",
                  f"{fresh.quantile(.5):.2f} / {fresh.quantile(.95):.2f} s" if len(fresh) else "–")
    versions = latest["model_version"].value_counts()
    if parts.service_up:
        top[3].metric("Model serving", parts.model_version or "–",
                      help="what the valuation service says it serves; newest valuations: "
                           + ", ".join(versions.index))
    else:
        top[3].metric("Model serving", "none", help="the valuation service is down; the newest valuations were "
                                                    f"made by {', '.join(versions.index)}")
    if rates.started is not None:
        st.caption(f"{len(window):,} valuations in the last {WINDOW_MIN} minutes · {rates.count:,} since the "
                   f"stream started at {rates.started:%H:%M:%S} UTC "
                   f"({display.age((rates.last - rates.started).total_seconds())} of valuations)")
    quiet_s = (now - latest["created_at"].max()).total_seconds()
    if quiet_s > QUIET_AFTER_S and parts.all_up:
        st.warning(f"The newest valuation was stored {display.age(quiet_s)} ago although the service, the "
                   "broker and the database answer: the scorer or the producers may have stopped.")


def latest_table(latest: pd.DataFrame, currency: str) -> None:
    view = pd.DataFrame({
        "Stored": latest["created_at"].dt.strftime("%H:%M:%S"),
        "Car": latest["brand"] + " " + latest["model"] + " " + latest["year"].astype(str),
        "Mileage": latest["mileage"].map(display.km),  # region: on Listings (width)
        "Asking price": latest["asking_price"].map(lambda v: display.money(v, currency)),
        "Estimate": latest["predicted_price"].map(lambda v: display.money(v, currency)),
        "80% interval": [display.money_range(lo, hi, currency)
                         for lo, hi in zip(latest["price_low"], latest["price_high"])],
        "Deal rating": latest["deal_rating"].map(display.rating_label),
        "Model": latest["model_version"],
    })
    st.dataframe(view.style.map(display.rating_badge_style, subset=["Deal rating"]), hide_index=True,
                 width="stretch")


def deals(recent: pd.DataFrame, currency: str) -> None:
    feed = deal_feed(recent)
    if feed.empty:
        st.info(f"No listing below its estimate in the last {PRICE_WINDOW_MIN} minutes.")
    for _, deal in feed.iterrows():
        st.markdown(
            f"**{deal['brand']} {deal['model']} {deal['year']}** · {display.km(deal['mileage'])} · {deal['region']}  \n"
            f"asking **{display.money(deal['asking_price'], currency)}**, estimate "
            f"{display.money(deal['predicted_price'], currency)} · :green-badge[{display.money(deal['below'], currency)}"
            f" below ({deal['below_share']:.0%})] {display.rating_label(deal['deal_rating'])}")


def dead_letters(reasons: pd.DataFrame) -> None:
    st.metric("Dead letters", f"{int(reasons['count'].sum()) if len(reasons) else 0:,}")
    if len(reasons):
        # A static table: the example message wraps instead of being cut off.
        st.table(pd.DataFrame({"Reason": reasons["reason"], "Count": reasons["count"],
                               "Last seen (UTC)": reasons["last_seen"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                               "Latest example": reasons["example"]}), hide_index=True)


def scorers(settings) -> None:
    st.subheader("Scorers")
    rows = database.scorer_rows(context.engine(settings.database), settings.consumer_group)
    if rows.empty:
        st.info(f"No scorer of group {settings.consumer_group} has reported yet (each writes its row when it starts).")
        return
    st.dataframe(scorer_view(rows, database.now(), settings.scorer_lag_interval_s), hide_index=True, width="stretch")
    st.caption("From each scorer's heartbeat row, written every "
               f"{settings.scorer_lag_interval_s:g} s: lag is its partitions' end offsets minus its positions.")


def read(engine) -> dict:
    return {"recent": database.valuations_since(engine, PRICE_WINDOW_MIN),
            "latest": database.latest_valuations(engine, 20),
            "dead": database.dead_letter_reasons(engine),
            "minutes": database.minute_counts(engine, STREAM_LOOKBACK_H)}


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    settings = context.settings()
    currency = market_currency(settings)
    top = st.container()  # the banner goes above everything, once the database was tried too
    parts = status.check(settings)
    data = None
    try:
        data = read(context.engine(settings.database))
    except DatabaseUnavailable as down:
        parts.database_error = str(down)
    except NoData as missing:
        st.info(str(missing))
    with top:
        status.banner(parts, settings)

    if data is not None and data["latest"].empty:
        st.info("No valuations stored yet: start the scorer (`autovalue score`) and a producer.")
    elif data is not None:
        with shown_safely("Throughput"):
            headline(data, parts)
        st.subheader("Latest valuations")
        latest_table(data["latest"], currency)
        window = data["recent"][data["recent"]["created_at"] >= database.now() - pd.Timedelta(minutes=WINDOW_MIN)]
        if not window.empty:
            buckets = per_bucket(window)
            left, right = st.columns(2)
            left.markdown("**Throughput (valuations per second, 10 s buckets)**")
            left.altair_chart(throughput(buckets), width="stretch")
            right.markdown("**Freshness (produce → stored)**")
            right.altair_chart(freshness(buckets), width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Deal feed")
        if data is not None:
            with shown_safely("Deal feed"):
                deals(data["recent"], currency)
    with right:
        st.subheader("Consumer lag")
        if not parts.broker_up:
            st.info("Unknown while the broker is down.")
        else:
            with shown_safely("Consumer lag"):
                lag = consumer_lag(settings)
                st.metric(f"Listings waiting (group {settings.consumer_group})", f"{int(lag['lag'].sum()):,}")
                st.dataframe(lag.rename(columns={"partition": "Partition", "end": "Log end offset",
                                                 "committed": "Committed offset", "lag": "Waiting"}),
                             hide_index=True, width="stretch")
        if data is not None:
            with shown_safely("Scorers"):
                scorers(settings)
        st.subheader("Dead letters")
        if data is not None:
            with shown_safely("Dead letters"):
                dead_letters(data["dead"])

    if data is not None and not data["recent"].empty:
        st.subheader(f"Estimated prices per model, last {PRICE_WINDOW_MIN} minutes")
        with shown_safely("Price distribution"):
            st.altair_chart(price_by_model(data["recent"], currency), width="stretch")


live()
