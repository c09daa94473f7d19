"""Listings: the valued listings, filtered by brand, model, region and deal rating; a click on one
shows its valuation and what drives it; the filtered valuations download as CSV."""

import pandas as pd
import streamlit as st

from app import context, database, display, service_api, valuation_view
from app.choices import form_choices
from app.guard import ServiceUnavailable, shown_safely
from autovalue.valuation import Valuation
from autovalue.market_attributes import market_currency

LIMIT = 5_000  # the most recently valued listings
RATINGS = {display.rating_label(r): r for r in ["great", "good", "fair", "high", "overpriced", None]}
EXPORTED = ["listing_id", "listed_at", "brand", "model", "year", "mileage", "fuel", "transmission", "body_type",
            "region", "seller_type", "asking_price", "predicted_price", "price_low", "price_high", "deal_rating",
            "confidence", "fallback", "model_version", "created_at"]

settings = context.settings()
currency = market_currency(settings)
st.title("Listings")
st.caption(f"The {LIMIT:,} most recently valued listings (each with its newest valuation), filtered. "
           "Click a row to see its valuation and what drives it.")

choices = form_choices(settings.raw_dir, settings.market_source)
a, b, c, d = st.columns(4)
brands = a.multiselect("Brand", choices.brands(), placeholder="all brands", key="brands")
known_models = sorted(choices.models.loc[choices.models["brand"].isin(brands or choices.brands()), "model"])
models = b.multiselect("Model", known_models, placeholder="all models", key="models")
regions = c.multiselect("Region", choices.regions, placeholder="all regions", key="regions")
ratings = d.multiselect("Deal rating", list(RATINGS), placeholder="all ratings", key="ratings")


def table(rows: pd.DataFrame):
    view = pd.DataFrame({
        "Valued (UTC)": rows["created_at"].dt.strftime("%m-%d %H:%M"),
        "Car": rows["brand"] + " " + rows["model"] + " " + rows["year"].astype(str),
        "Mileage": rows["mileage"].map(display.km), "Region": rows["region"],
        "Asking price": rows["asking_price"].map(lambda v: display.money(v, currency)),
        "Estimate": rows["predicted_price"].map(lambda v: display.money(v, currency)),
        "Deal rating": rows["deal_rating"].map(display.rating_label),  # confidence: with the selected one
    })
    return st.dataframe(view.style.map(display.rating_badge_style, subset=["Deal rating"]), hide_index=True,
                        width="stretch", height=390, on_select="rerun", selection_mode="single-row",
                        key="listings_table")


def listing_of(row: pd.Series) -> dict:
    """The row as the listing the service values (only what is known)."""
    fields = {"listing_id": row["listing_id"], "listed_at": row["listed_at"].isoformat(), "brand": row["brand"],
              "model": row["model"], "year": int(row["year"]), "mileage_km": None if pd.isna(row["mileage"]) else float(row["mileage"]),
              "fuel": row["fuel"], "transmission": row["transmission"], "body_type": row["body_type"],
              "region": row["region"], "seller_type": row["seller_type"], "asking_price": row["asking_price"]}
    return {k: v for k, v in fields.items() if v is not None and not (isinstance(v, float) and pd.isna(v))}


def detail(row: pd.Series) -> None:
    st.subheader(f"{row['brand']} {row['model']} {row['year']}, {display.km(row['mileage'])}, {row['region']}")
    stored = Valuation(listing_id=row["listing_id"], predicted_price=row["predicted_price"],
                       price_low=row["price_low"], price_high=row["price_high"], currency=currency,
                       asking_price=None if pd.isna(row["asking_price"]) else row["asking_price"],
                       deal_rating=row["deal_rating"] or None, fallback=row["fallback"] or "none",
                       model_version=row["model_version"], feature_service=row["feature_service"] or "–")
    valuation_view.headline(stored)
    st.caption(f"As stored at {row['created_at']:%Y-%m-%d %H:%M:%S} UTC by model {row['model_version']} · "
               f"confidence {row['confidence'] or 'not recorded'} · market level used: {row['fallback']} · "
               f"listing {row['listing_id']}")
    try:
        now = service_api.valuate(settings, listing_of(row))
    except (ServiceUnavailable, service_api.ListingRejected) as error:
        st.info(f"What drives this price comes from the valuation service: {error}")
        return
    valuation_view.drivers(now)
    st.caption(f"Drivers from the service now (model {now.model_version}, today's market statistics): estimate "
               f"{display.money(now.predicted_price, now.currency)}, "
               f"stored {display.money(row['predicted_price'], currency)}.")


rows = None
with shown_safely("Listings"):
    rows = database.listings(context.engine(settings.database), brands, models, regions,
                             [RATINGS[r] for r in ratings])
if rows is not None:
    if rows.empty:
        st.info("No valued listing matches these filters.")
    else:
        st.markdown(f"**{len(rows):,} listings**")
        selected = table(rows).selection.rows
        exported = rows[[c for c in EXPORTED if c in rows.columns]]
        st.download_button(f"Export these {len(rows):,} valuations (CSV)", exported.to_csv(index=False).encode(),
                           on_click="ignore", file_name="autovalue-valuations.csv", mime="text/csv",
                           icon=":material/download:")
        if selected:
            with shown_safely("Listing"):
                detail(rows.iloc[selected[0]])
        else:
            st.caption("Select a row (the box at its left) to see its valuation and drivers.")
