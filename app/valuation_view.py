"""One valuation on screen: price, 80% interval, deal rating, confidence, and what drives the
price, each driver said in words. Used by Value a car and by Listings."""

from __future__ import annotations

import streamlit as st

from app import display
from app.charts import value_waterfall
from autovalue.valuation import Valuation

# What each waterfall step means, for a person who never saw the model.
DRIVER_MEANINGS = {
    "base value": "what the model starts from before the drivers shown: a typical car at the average market "
                  "level it was trained on, plus the smaller drivers not drawn",
    "market": "where this car model's asking prices stand on the market now (the latest market statistics), "
              "against the average level the model was trained on",
    "make and model": "what this make and model is worth beyond its market level",
    "age": "the car's age from its model year, against a typical car of the market",
    "mileage": "its mileage and kilometres per year, against a typical car of its age",
    "region": "where it is sold",
    "fuel": "its fuel",
    "transmission": "its transmission",
    "body type": "its body type",
    "seller": "who sells it (dealer or private)",
}


def headline(valuation: Valuation) -> None:
    money = lambda value: display.money(value, valuation.currency)  # noqa: E731
    # The interval gets the widest column: it is the longest figure and must not be cut off.
    a, b, c = st.columns([1, 1.6, 1])  # fits "Rp 1,850.1 – 1,102.3 jt" at 1280 px
    a.metric("Estimated price", money(valuation.predicted_price), help="what the car should sell for")
    b.metric("80% interval", display.money_range(valuation.price_low, valuation.price_high, valuation.currency),
             help="8 in 10 such cars sell inside this range")
    if valuation.deal_rating is not None:
        gap = (valuation.asking_price or 0) - valuation.predicted_price
        # The delta starts with its sign (ASCII: Streamlit reads it) so a bargain points down, in green.
        signed = display.signed_money(gap, valuation.currency).replace("−", "-")
        c.metric("Deal rating", display.rating_label(valuation.deal_rating.value),
                 delta=f"{signed} asked vs estimate", delta_color="inverse",
                 help="the asking price against what similar cars are asked")
    elif valuation.asking_price is not None:
        c.metric("Deal rating", "–", help="no deal rating at low confidence: the estimate itself is in doubt")
    else:
        c.metric("Deal rating", "–", help="give an asking price to get a deal rating")


def confidence(valuation: Valuation) -> None:
    level = valuation.confidence.value
    if valuation.confidence_reasons:
        say = st.warning if level == "low" else st.info
        say(f"**Confidence {level}** (the interval is widened to match): "
            + "; ".join(valuation.confidence_reasons) + ".")
    else:
        st.caption(f"Confidence {level}: a car model the model knows, with fresh market statistics.")
    notes = [f"model {valuation.model_version}", f"feature service {valuation.feature_service}",
             f"market level used: {valuation.fallback.value}"]
    if valuation.market_data_age_s is not None:
        notes.append(f"market data {display.age(valuation.market_data_age_s)} old")
    st.caption(" · ".join(notes))


def drivers(valuation: Valuation) -> None:
    if not valuation.value_drivers:
        return
    st.markdown("**What drives this price**")
    st.altair_chart(value_waterfall(valuation.predicted_price, valuation.value_drivers, valuation.currency),
                    width="stretch")
    shown = ["base value", *(d.feature for d in valuation.value_drivers)]
    st.caption("  \n".join(f"**{step}**: {DRIVER_MEANINGS[step]}." for step in dict.fromkeys(shown)
                           if step in DRIVER_MEANINGS))


def show(valuation: Valuation) -> None:
    headline(valuation)
    confidence(valuation)
    drivers(valuation)
