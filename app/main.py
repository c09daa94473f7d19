"""`streamlit run app/main.py`: the AutoValue dashboard (six pages)."""

import sys
from pathlib import Path

# `streamlit run` puts app/ on the path, not the project: make `import app.…` work either way.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

st.set_page_config(page_title="AutoValue", page_icon=":material/directions_car:", layout="wide")

PAGES = [
    # Material icons ship with Streamlit; emoji need fonts a server's browser may lack.
    st.Page("screens/live.py", title="Live", icon=":material/monitoring:", default=True),  # at /
    st.Page("screens/accuracy.py", title="Live accuracy", icon=":material/target:", url_path="accuracy"),
    st.Page("screens/value.py", title="Value a car", icon=":material/directions_car:", url_path="value"),
    st.Page("screens/listings.py", title="Listings", icon=":material/list_alt:", url_path="listings"),
    st.Page("screens/model.py", title="Model", icon=":material/model_training:", url_path="model"),
    st.Page("screens/drift.py", title="Drift and freshness", icon=":material/thermostat:", url_path="drift"),
]
st.navigation(PAGES).run()
