"""Model: MLflow runs, the champion's holdout metrics and plots, and the champion before it."""

import math

import altair as alt
import pandas as pd
import streamlit as st

from app import context, display
from app.guard import shown_safely
from app.model_registry import MAIN_MODEL, comparison, read_registry

settings = context.settings()
st.title("Model")
st.caption(f"MLflow at {settings.mlflow_uri}, registered model {settings.mlflow_model_name}, "
           "alias `champion`.")


def metric_text(name: str, value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if name in ("mae", "interval_mean_width"):
        return display.money(value, settings.market_currency)
    if name == "r2":
        return f"{value:.3f}"
    if name == "fit_rows":
        return f"{value:,.0f}"
    return f"{value:.2%}"


with shown_safely("Model registry"):
    registry = read_registry(settings)
    champion, previous = registry.champion, registry.previous
    if champion is None:
        st.info("No champion yet: no registered version carries the `champion` alias.")
    else:
        st.subheader(f"Champion {champion.name}")
        main = champion.metrics.get(MAIN_MODEL, {})
        cols = st.columns(4)
        for col, (label, name) in zip(cols, [("Holdout MAPE", "mape"), ("Median APE", "median_ape"),
                                             ("Interval coverage (80%)", "interval_coverage"), ("R²", "r2")]):
            col.metric(label, metric_text(name, main.get(name)))
        meta = champion.metadata
        facts = [f"trained {meta['trained_at'][:16].replace('T', ' ')}" if meta.get("trained_at") else None,
                 f"{meta['rows']:,} rows" if meta.get("rows") else None,
                 f"feature service {meta['feature_service']}" if meta.get("feature_service") else None,
                 champion.tags.get("champion_decision")]
        st.caption(" · ".join(f for f in facts if f))

        st.markdown("**All models on the champion's holdout**")
        table = pd.DataFrame(champion.metrics).T
        for column in table.columns:
            table[column] = [metric_text(column, None if pd.isna(v) else v) for v in table[column]]
        st.dataframe(table, width="stretch")

        st.subheader("Compared with the previous champion")
        if previous is None:
            st.info("There was no champion before this one.")
        else:
            compared = comparison(champion, previous)
            shown = compared.copy()
            for column in shown.columns[1:]:
                shown[column] = [metric_text(m, v) if column != "change" or v is None else
                                 ("+" if v >= 0 else "−") + metric_text(m, abs(v))
                                 for m, v in zip(compared["metric"], compared[column])]
            st.dataframe(shown, hide_index=True, width="stretch")
            same = champion.tags.get("champion_mape_on_this_holdout")
            if same:
                st.caption(f"On {champion.name}'s own holdout the previous champion scored MAPE "
                           f"{float(same):.2%} (like for like), against {metric_text('mape', main.get('mape'))}.")
            mape = compared[compared["metric"].isin(["mape", "median_ape"])].melt(
                id_vars="metric", value_vars=[champion.name, previous.name], var_name="model", value_name="error")
            st.altair_chart(alt.Chart(mape.dropna()).mark_bar().encode(
                x=alt.X("error:Q", axis=alt.Axis(format="%"), title="holdout error (lower is better)"),
                y=alt.Y("model:N", title=None), row=alt.Row("metric:N", title=None),
                color=alt.Color("model:N", legend=None)).properties(height=70))

        if champion.plots:
            st.subheader("Holdout plots")
            columns = st.columns(2)
            for i, plot in enumerate(champion.plots):
                columns[i % 2].image(str(plot), caption=plot.stem.replace("_", " "), width="stretch")
        else:
            st.info(f"No plots were found for {champion.name} (models/{champion.name}/plots or its MLflow run).")

    st.subheader("MLflow runs")
    runs = registry.runs.copy()
    st.dataframe(runs, hide_index=True, width="stretch", column_config={
        "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "MAPE": st.column_config.NumberColumn(format="percent"),
        "median APE": st.column_config.NumberColumn(format="percent"),
        "interval coverage": st.column_config.NumberColumn(format="percent"),
    })
