"""Drift and freshness: how old the online market features are, and how far incoming listings
have moved from the training data (PSI per feature; thresholds documented in app/drift.py)."""

import pandas as pd
import streamlit as st

from app import context, database, display, drift, market_data
from app.charts import feature_age, psi_bars
from app.feature_freshness import STALE_AFTER_S, feature_ages
from app.guard import NoData, shown_safely
from autovalue.market_attributes import source_feature_service

INCOMING_ROWS = 5_000  # the newest valuations are "incoming"
PUSHED_WITHIN_S = 3600  # a car model row younger than this came from the market feed, not the midnight batch

settings = context.settings()
st.title("Drift and freshness")


def load_training() -> pd.DataFrame:
    return market_data.market(settings)


incoming = None
with shown_safely("Incoming listings"):
    incoming = database.recent_valuations(context.engine(settings.database), INCOMING_ROWS)

st.subheader("Age of the online market features")
st.caption(f"For every car model, the age of the market statistics the valuation service reads for it "
           f"(feature service `{source_feature_service(settings)}`) at each level: the car model's own, its brand's and "
           "its body type's. Daily batch rows are stamped at midnight UTC, the start of the day they cover, so "
           "they are as old as the time since midnight (up to a day); rows the market feed pushes while listings "
           f"stream in are seconds old. Older than {display.age(STALE_AFTER_S)} (dashed line) means the feature "
           "pipeline or the pushes stopped.")
with shown_safely("Feature freshness"):
    try:  # every car model of the market data, else of the incoming listings
        source = load_training()
    except NoData:
        if incoming is None or incoming.empty:
            raise
        source = incoming
    cars = source.groupby(["brand", "model"])["body_type"].agg(lambda s: s.mode().iat[0]).reset_index()
    clock = database.behind_market_clock(context.engine(settings.database))
    if clock is not None:
        st.caption(f"Ages at {clock:%Y-%m-%d %H:%M} UTC, the newest listing date on the stream: this market runs on "
                   "its own calendar (simulated or replayed), and the service judges its statistics at each "
                   "listing's date.")
    ages = feature_ages(settings, cars, at=clock)
    worst = ages["age_s"].max()
    stale = ages[ages["age_s"] > STALE_AFTER_S]
    missing = ages[ages["age_s"].isna()]
    # Batch rows are stamped at midnight exactly: in the hour after it they are young too.
    pushed = ages[(ages["level"] == "model") & (ages["age_s"] < PUSHED_WITHIN_S) & (ages["stamp_s"] % 86_400 != 0)]
    a, b, c = st.columns(3)
    a.metric("Oldest market feature", display.age(worst),
             help="batch rows are stamped at midnight UTC: between runs of the feature pipeline they age up to a day")
    b.metric("Car models pushed in the last hour", f"{len(pushed)} of {len(cars)}",
             help="car models whose statistics the market feed pushed from streamed listings")
    c.metric("Car models × levels without online features", f"{len(missing)}")
    if len(stale):
        st.warning(f"{len(stale)} market feature groups are older than {display.age(STALE_AFTER_S)}: "
                   + ", ".join(f"{r.car} ({r.level}, {display.age(r.age_s)})" for r in stale.head(6).itertuples()))
    else:
        st.success(f"All market features are younger than {display.age(STALE_AFTER_S)}.")
    st.altair_chart(feature_age(ages, STALE_AFTER_S), width="stretch")

st.subheader("Incoming listings vs training data")
st.caption(f"Population stability index per feature: the newest {INCOMING_ROWS:,} valuations against the "
           f"market data `{settings.market_source}`. Below {drift.WATCH} stable, {drift.WATCH}–{drift.WARN} "
           f"watch, {drift.WARN} or more warn (a major shift: retrain or check the source).")
with shown_safely("Drift"):
    training = load_training()
    if incoming is None:
        st.info("Incoming listings are unavailable (see above), so drift cannot be judged.")
    elif len(incoming) < drift.MIN_ROWS:
        st.info(f"Only {len(incoming)} incoming listings stored: at least {drift.MIN_ROWS} are needed "
                "before PSI means more than sampling noise.")
    else:
        table = drift.psi_table(training, incoming)
        warned = table[table["state"] == "warn"]
        watched = table[table["state"] == "watch"]
        if len(warned):
            st.error(f"**Drift warning:** {', '.join(warned['feature'])} moved past PSI {drift.WARN}.")
        elif len(watched):
            st.warning(f"**Watch:** {', '.join(watched['feature'])} moved past PSI {drift.WATCH}.")
        else:
            st.success(f"No feature has moved past PSI {drift.WATCH}.")
        st.altair_chart(psi_bars(table, drift.WATCH, drift.WARN), width="stretch")
        st.dataframe(table.rename(columns={"feature": "Feature", "kind": "Kind", "psi": "PSI", "state": "State"}),
                     hide_index=True, width="stretch",
                     column_config={"PSI": st.column_config.NumberColumn(format="%.3f")})
