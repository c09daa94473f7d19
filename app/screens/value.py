"""Value a car: a listing form → the valuation service → price, interval, rating, drivers,
and comparable recent listings from the database."""

import uuid
from datetime import datetime, timezone

import streamlit as st

from app import context, database, display, service_api
from app.charts import value_waterfall
from app.choices import form_choices
from app.guard import ServiceUnavailable, shown_safely
from autovalue.schema import MIN_MODEL_YEAR, Fuel, SellerType, Transmission

settings = context.settings()
currency = settings.market_currency
symbol, suffix, unit_size = display.unit(currency)
price_unit = f"{symbol} {suffix}".strip()

st.title("Value a car")
choices = form_choices(settings.raw_dir, settings.market_source)
st.caption(f"Brands and models from {choices.source}. The valuation comes from the service at "
           f"{settings.service_url}.")

# Brand and model sit outside the form: the model list has to follow the brand at once.
left, right = st.columns(2)
brands = choices.brands()
brand = left.selectbox("Brand", brands, index=brands.index(choices.most_listed_brand()), key="brand")
model = right.selectbox("Model", choices.models_of(brand), key="model")
body_type = choices.body_type(brand, model)

this_year = datetime.now(timezone.utc).year
with st.form("listing"):
    a, b, c = st.columns(3)
    year = a.number_input("Year", min_value=MIN_MODEL_YEAR, max_value=this_year, value=this_year - 5, step=1)
    mileage = b.number_input("Mileage (km)", min_value=0, max_value=2_000_000, value=60_000, step=5_000)
    region = c.selectbox("Region", choices.regions)
    a, b, c = st.columns(3)
    fuel = a.selectbox("Fuel", [f.value for f in Fuel])
    transmission = b.selectbox("Transmission", [t.value for t in Transmission])
    seller_type = c.selectbox("Seller type", [s.value for s in SellerType])
    asking = st.number_input(f"Asking price ({price_unit}, optional)", min_value=0.0, value=None,
                             step=1.0 if suffix else 100.0, placeholder="leave empty for the price alone")
    submitted = st.form_submit_button("Value this car", type="primary")

if submitted:
    listing = {
        "listing_id": f"dashboard-{uuid.uuid4().hex[:12]}",
        "listed_at": datetime.now(timezone.utc).isoformat(),
        "brand": brand, "model": model, "year": int(year), "mileage_km": float(mileage),
        "fuel": fuel, "transmission": transmission, "body_type": body_type, "region": region,
        "seller_type": seller_type,
        "asking_price": float(asking) * unit_size if asking else None,
    }
    st.session_state.pop("valuation", None)
    st.session_state.pop("rejected", None)
    try:
        st.session_state["valuation"] = (listing, service_api.valuate(settings, listing))
    except ServiceUnavailable as down:
        st.error(f"**Valuation service unavailable:** {down}")
    except service_api.ListingRejected as refused:
        st.error(f"**The service refused this listing:** {refused}")

if "valuation" in st.session_state:
    listing, valuation = st.session_state["valuation"]
    money = lambda value: display.money(value, valuation.currency)  # noqa: E731
    st.subheader(f"{listing['brand']} {listing['model']} {listing['year']}, {listing['mileage_km']:,.0f} km")
    a, b, c = st.columns(3)
    a.metric("Estimated price", money(valuation.predicted_price))
    b.metric("80% interval", f"{money(valuation.price_low)} – {money(valuation.price_high)}")
    if valuation.deal_rating is not None:
        rating = valuation.deal_rating.value
        gap = (valuation.asking_price or 0) - valuation.predicted_price
        c.metric("Deal rating", display.rating_label(rating),
                 delta=f"asking {display.signed_money(gap, valuation.currency)} vs estimate",
                 delta_color="inverse")
    elif valuation.asking_price is not None:
        c.metric("Deal rating", "–", help="no deal rating at low confidence: the estimate itself is in doubt")
    else:
        c.metric("Deal rating", "–", help="give an asking price to get a deal rating")
    confidence = valuation.confidence.value
    if valuation.confidence_reasons:
        say = st.warning if confidence == "low" else st.info
        say(f"**Confidence {confidence}** (the interval is widened to match): "
            + "; ".join(valuation.confidence_reasons) + ".")
    else:
        st.caption(f"Confidence {confidence}: a car model the model knows, with fresh market statistics.")
    notes = [f"model {valuation.model_version}", f"feature service {valuation.feature_service}",
             f"market level used: {valuation.fallback.value}"]
    if valuation.market_data_age_s is not None:
        notes.append(f"market data {display.age(valuation.market_data_age_s)} old")
    st.caption(" · ".join(notes))
    if valuation.value_drivers:
        st.markdown("**What drives this price**")
        st.altair_chart(value_waterfall(valuation.predicted_price, valuation.value_drivers, valuation.currency),
                        width="stretch")

    st.markdown("**Comparable recent listings**")
    with shown_safely("Comparable listings"):
        similar = database.comparables(context.engine(settings.database), listing["brand"], listing["model"],
                                       listing["year"], listing["mileage_km"])
        if similar.empty:
            st.info("No recent listing of this model within two model years in the database.")
        else:
            view = similar.assign(
                listed=similar["listed_at"].dt.strftime("%Y-%m-%d"),
                mileage=similar["mileage"].map(lambda km: f"{km:,.0f} km"),
                asking=similar["asking_price"].map(money), estimate=similar["predicted_price"].map(money),
                rating=similar["deal_rating"].map(display.rating_label),
            )[["listed", "year", "mileage", "region", "fuel", "transmission", "asking", "estimate", "rating"]]
            st.dataframe(view.style.map(display.rating_badge_style, subset=["rating"]),
                         hide_index=True, width="stretch")
