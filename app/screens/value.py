"""Value a car: a listing form → the valuation service → price, interval, rating, drivers; then
the car model's market with this car marked, and comparable recent listings from the database."""

import uuid
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from app import context, database, display, market_data, service_api, valuation_view
from app.choices import category_levels, form_choices
from app.guard import ServiceUnavailable, shown_safely
from app.price_charts import depreciation, price_over_time
from autovalue.schema import MIN_MODEL_YEAR, Fuel, SellerType, Transmission
from autovalue.market_attributes import market_attributes, market_currency

settings = context.settings()
currency = market_currency(settings)
symbol, suffix, unit_size = display.unit(currency)
price_unit = f"{symbol} {suffix}".strip()

st.title("Value a car")
choices = form_choices(settings.raw_dir, settings.market_source)
st.caption(f"Brands and models from {choices.source}. The valuation comes from the service at "
           f"{settings.service_url}.")

# Brand and model sit outside the form: the model list, and the transmission and fuel most of
# that model's cars have, follow the choice at once.
left, right = st.columns(2)
brands = choices.brands()
brand = left.selectbox("Brand", brands, index=brands.index(choices.most_listed_brand()), key="brand")
model = right.selectbox("Model", choices.models_of(brand), key="model")
body_type = choices.body_type(brand, model)
transmissions, fuels = [t.value for t in Transmission], [f.value for f in Fuel]

this_year = datetime.now(timezone.utc).year
attributes = market_attributes(settings)  # the market's own, as its import mapping declared them
levels = category_levels(settings.raw_dir, settings.market_source, [a.name for a in attributes if a.kind == "category"])


def own_attribute_inputs() -> dict:
    """A field per attribute the market declared, each optional (a listing without it is still valued)."""
    values = {}
    columns = st.columns(3)
    for i, attribute in enumerate(attributes):
        label = attribute.name.replace("_", " ").capitalize() + " (optional)"
        where = columns[i % 3]
        if attribute.kind == "number":
            values[attribute.name] = where.number_input(label, value=None, key=f"attribute_{attribute.name}")
        elif levels.get(attribute.name):
            values[attribute.name] = where.selectbox(label, levels[attribute.name], index=None,
                                                     key=f"attribute_{attribute.name}")
        else:
            values[attribute.name] = where.text_input(label, key=f"attribute_{attribute.name}") or None
    return {name: value for name, value in values.items() if value is not None}


with st.form("listing"):
    a, b, c = st.columns(3)
    year = a.number_input("Year", min_value=MIN_MODEL_YEAR, max_value=this_year, value=this_year - 5, step=1)
    mileage_text = b.text_input("Mileage (km)", value="60,000", help="thousands may be grouped: 85,000 or 85.000")
    region = c.selectbox("Region", choices.regions)
    a, b, c = st.columns(3)
    # No key: a new model brings its own default (its cars' most common fuel and transmission).
    fuel = a.selectbox("Fuel", fuels, index=fuels.index(choices.fuel(brand, model)))
    transmission = b.selectbox("Transmission", transmissions,
                               index=transmissions.index(choices.transmission(brand, model)))
    seller_type = c.selectbox("Seller type", [s.value for s in SellerType])
    extra = own_attribute_inputs()
    asking = st.number_input(f"Asking price ({price_unit}, optional)", min_value=0.0, value=None,
                             step=1.0 if suffix else 100.0, format="%.1f" if suffix else "%.0f",
                             placeholder="leave empty for the price alone")
    submitted = st.form_submit_button("Value this car", type="primary")

def listing_moment() -> tuple[datetime, str | None]:
    """Now; or the stream's own date when the market runs more than a day behind the wall clock
    (its statistics are of that date: valued now, the car would find them stale)."""
    clock = database.behind_market_clock(context.engine(settings.database))
    if clock is None:
        return datetime.now(timezone.utc), None
    return clock, (f"Valued as of {clock:%Y-%m-%d %H:%M} UTC, the newest listing date on the stream: this "
                   "market runs on its own calendar (simulated or replayed), and its statistics are of that date.")


if submitted:
    st.session_state.pop("valuation", None)
    moment, st.session_state["moment_note"] = listing_moment()
    try:
        mileage = display.parse_whole_number(mileage_text)
    except ValueError:
        st.error(f"**Mileage:** write the kilometres as a whole number, e.g. 85,000 (not {mileage_text!r}).")
        st.stop()
    listing = {
        "listing_id": f"dashboard-{uuid.uuid4().hex[:12]}",
        "listed_at": moment.isoformat(),
        "brand": brand, "model": model, "year": int(year), "mileage_km": float(mileage),
        "fuel": fuel, "transmission": transmission, "body_type": body_type, "region": region,
        "seller_type": seller_type,
        "asking_price": float(asking) * unit_size if asking else None,
        **extra,
    }
    try:
        st.session_state["valuation"] = (listing, service_api.valuate(settings, listing))
    except ServiceUnavailable as down:
        st.error(f"**Valuation service unavailable:** {down}")
    except service_api.ListingRejected as refused:
        st.error(f"**The service refused this listing:** {refused}")


def market_context(listing: dict, valuation) -> None:
    st.subheader(f"{listing['brand']} {listing['model']} on the market")
    facts = market_data.for_model(settings, listing["brand"], listing["model"])
    marked = dict(currency=valuation.currency, estimate=valuation.predicted_price, low=valuation.price_low,
                  high=valuation.price_high)
    st.markdown("**Price over time** (weekly medians, all model years)")
    st.altair_chart(price_over_time(facts.over_time, today=pd.Timestamp.now(tz="UTC"), **marked), width="stretch")
    left, right = st.columns(2)
    left.markdown("**By model year**")
    left.altair_chart(depreciation(facts.by_year, "year", "model year", "d", listing["year"], **marked),
                      width="stretch")
    right.markdown("**By mileage**")
    right.altair_chart(depreciation(facts.by_mileage, "mileage", "mileage (km)", ",.0f", listing["mileage_km"],
                                    **marked), width="stretch")
    st.caption(f"Median sold price (line) and its middle half (band) over the {facts.sales:,} sales of the last "
               f"{market_data.RECENT_DAYS} days of market data, all model years and mileages; points with at least "
               f"{market_data.MIN_SALES} sales. The diamond is this car's estimate, the bar through it its 80% "
               "interval.")


def comparables(listing: dict, currency: str) -> None:
    st.subheader("Comparable recent listings")
    st.caption(f"{listing['brand']} {listing['model']}, {listing['transmission']}, {listing['fuel']}, model year "
               f"{listing['year'] - 2}–{listing['year'] + 2}, valued in the last 90 days; nearest mileage first.")
    similar = database.comparables(context.engine(settings.database), listing["brand"], listing["model"],
                                   listing["year"], listing["mileage_km"], listing["transmission"], listing["fuel"])
    if similar.empty:
        st.info("No such listing in the database yet.")
        return
    view = pd.DataFrame({
        "Listed": similar["listed_at"].dt.strftime("%Y-%m-%d"), "Year": similar["year"],
        "Mileage": similar["mileage"].map(display.km), "Region": similar["region"],
        "Transmission": similar["transmission"], "Fuel": similar["fuel"],
        "Asking price": similar["asking_price"].map(lambda v: display.money(v, currency)),
        "Estimate": similar["predicted_price"].map(lambda v: display.money(v, currency)),
        "Deal rating": similar["deal_rating"].map(display.rating_label)})
    st.dataframe(view.style.map(display.rating_badge_style, subset=["Deal rating"]), hide_index=True,
                 width="stretch")


if "valuation" in st.session_state:
    listing, valuation = st.session_state["valuation"]
    st.subheader(f"{listing['brand']} {listing['model']} {listing['year']}, {listing['mileage_km']:,.0f} km, "
                 f"{listing['transmission']}, {listing['fuel']}")
    valuation_view.show(valuation)
    if st.session_state.get("moment_note"):
        st.caption(st.session_state["moment_note"])
    with shown_safely("Market of this model"):
        market_context(listing, valuation)
    with shown_safely("Comparable listings"):
        comparables(listing, valuation.currency)
