"""Drift and freshness: how old the online market features are, and how far incoming listings
have moved from the training data (PSI per feature; thresholds documented in app/drift.py)."""

import pandas as pd
import streamlit as st

from app import context, database, display, drift
from app.charts import feature_age, psi_bars
from app.feature_freshness import STALE_AFTER_S, feature_ages
from app.guard import NoData, shown_safely
from market.io import read_source

INCOMING_ROWS = 5_000  # the newest valuations are "incoming"
AGE_CARS = 8  # market features are looked up for the busiest car models

settings = context.settings()
st.title("Drift and freshness")


@st.cache_data(show_spinner=False, ttl=600)
def training_data(raw_dir: str, source: str, mtime: float) -> pd.DataFrame:
    from pathlib import Path

    return read_source(Path(raw_dir), source)


def load_training() -> pd.DataFrame:
    path = settings.raw_dir / f"{settings.market_source}.parquet"
    if not path.exists():
        raise NoData(f"No training data yet ({path} does not exist): run `autovalue generate` or `autovalue import`.")
    return training_data(str(settings.raw_dir), settings.market_source, path.stat().st_mtime)


incoming = None
with shown_safely("Incoming listings"):
    incoming = database.recent_valuations(context.engine(settings.database), INCOMING_ROWS)

st.subheader("Age of the online market features")
st.caption(f"Oldest market feature per car model and level, read from the feature service "
           f"`{settings.feature_service}` as the valuation service reads it. Older than "
           f"{display.age(STALE_AFTER_S)} (dashed line) means the feature pipeline or the scorer's pushes stopped.")
with shown_safely("Feature freshness"):
    if incoming is not None and not incoming.empty:
        cars = incoming.groupby(["brand", "model"])["body_type"].agg(lambda s: s.mode().iat[0])
        cars = cars.reset_index().assign(n=incoming.groupby(["brand", "model"]).size().to_numpy())
    else:
        raw = load_training()
        cars = raw.groupby(["brand", "model"])["body_type"].agg(lambda s: s.mode().iat[0])
        cars = cars.reset_index().assign(n=raw.groupby(["brand", "model"]).size().to_numpy())
    cars = cars.sort_values("n", ascending=False).head(AGE_CARS)
    ages = feature_ages(settings, cars)
    worst = ages["age_s"].max()
    stale = ages[ages["age_s"] > STALE_AFTER_S]
    missing = ages[ages["age_s"].isna()]
    a, b = st.columns(2)
    a.metric("Oldest market feature", display.age(worst))
    b.metric("Car models × levels without online features", f"{len(missing)}")
    if len(stale):
        st.warning(f"{len(stale)} market feature groups are older than {display.age(STALE_AFTER_S)}: "
                   + ", ".join(f"{r.car} ({r.level}, {display.age(r.age_s)})" for r in stale.head(6).itertuples()))
    else:
        st.success(f"All looked-up market features are younger than {display.age(STALE_AFTER_S)}.")
    st.altair_chart(feature_age(ages.dropna(), STALE_AFTER_S), width="stretch")

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
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={"psi": st.column_config.NumberColumn(format="%.3f")})
