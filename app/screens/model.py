"""Model: the champion's holdout metrics and plots, the champion before it, and the MLflow runs."""

import altair as alt
import pandas as pd
import streamlit as st

from app import context, model_metrics
from app.guard import shown_safely
from app.model_registry import MAIN_MODEL, comparison, read_registry
from autovalue.market_attributes import market_currency

TABLE_METRICS = ["mape", "median_ape", "mae", "r2", "interval_coverage", "interval_mean_relative_width",
                 "mape_over_noise_floor", "fit_rows"]

settings = context.settings()
currency = market_currency(settings)
st.title("Model")
st.caption(f"MLflow at {settings.mlflow_uri}, registered model {settings.mlflow_model_name}, "
           "alias `champion` (the model the service serves). Every figure is on the champion's holdout: "
           "the newest sales, never seen in training.")


def text(name: str, value) -> str:
    return model_metrics.text(name, value, currency)


def all_models(metrics: dict) -> None:
    """Metrics down, models across: narrow enough for any screen."""
    names = [m for m in TABLE_METRICS if any(m in values for values in metrics.values())]
    table = pd.DataFrame({"metric": [model_metrics.label(m) for m in names]})
    served_first = sorted(metrics.items(), key=lambda item: item[0] != MAIN_MODEL)
    for model, values in served_first:
        table[model_metrics.MODELS.get(model, model)] = [text(m, values.get(m)) for m in names]
    st.dataframe(table, hide_index=True, width="stretch")


def compared_with(champion, previous) -> None:
    compared = comparison(champion, previous)
    shown = pd.DataFrame({"metric": compared["metric"].map(model_metrics.label)})
    for column in (champion.name, previous.name):
        shown[column] = [text(m, v) for m, v in zip(compared["metric"], compared[column])]
    shown["change"] = [model_metrics.change(m, v, currency) for m, v in zip(compared["metric"], compared["change"])]
    st.dataframe(shown, hide_index=True, width="stretch")
    same = champion.tags.get("champion_mape_on_this_holdout")
    if same:
        st.caption(f"On {champion.name}'s own holdout the previous champion scored MAPE {float(same):.2%} "
                   f"(like for like), against {text('mape', champion.metrics.get(MAIN_MODEL, {}).get('mape'))}.")
    errors = compared[compared["metric"].isin(["mape", "median_ape"])].melt(
        id_vars="metric", value_vars=[champion.name, previous.name], var_name="model", value_name="error").dropna()
    errors["metric"] = errors["metric"].map(model_metrics.label)
    st.altair_chart(alt.Chart(errors).mark_bar().encode(
        x=alt.X("error:Q", axis=alt.Axis(format="%"), title="holdout error (lower is better)"),
        y=alt.Y("model:N", title=None), row=alt.Row("metric:N", title=None, header=alt.Header(labelAngle=0,
                                                                                             labelAlign="left")),
        color=alt.Color("model:N", legend=None)).properties(height=70))


def runs_table(runs: pd.DataFrame, shown: int = 20) -> None:
    """A static table: the champion decision wraps instead of being cut off."""
    runs = runs.head(shown)
    percent = lambda v: "–" if pd.isna(v) else f"{v:.2%}"  # noqa: E731
    st.table(pd.DataFrame({
        "Started (UTC)": runs["started"].dt.strftime("%Y-%m-%d %H:%M"),
        "Registered as": runs["version"].replace("", "–"),
        "MAPE": runs["MAPE"].map(percent), "Median APE": runs["median APE"].map(percent),
        "Inside 80% interval": runs["interval coverage"].map(percent),
        "Rows": pd.to_numeric(runs["rows"], errors="coerce").map(lambda n: "–" if pd.isna(n) else f"{n:,.0f}"),
        "Promoted": runs["promoted"].map({"true": "yes", "false": "no"}).fillna("–"),
        "Champion decision": runs["decision"].map(model_metrics.decision).fillna("–"),
    }), hide_index=True)
    if len(runs) == shown:
        st.caption(f"The newest {shown} runs; `mlflow ui --backend-store-uri {settings.mlflow_uri}` shows them all.")


def retrains_table(runs: pd.DataFrame) -> None:
    """The loop: each retrain's challenger against the champion of its day, on the same newest
    landed sales neither trained on, and what was decided (training.retrain)."""
    retrains = runs[runs["retrain"] != ""] if "retrain" in runs else runs.iloc[0:0]
    if retrains.empty:
        return
    st.subheader("Retrains on the landed stream")
    percent = lambda v: "–" if pd.isna(v) else f"{v:.2%}"  # noqa: E731
    st.table(pd.DataFrame({
        "Started (UTC)": retrains["started"].dt.strftime("%Y-%m-%d %H:%M"),
        "Challenger": retrains["version"].replace("", "–"),
        "Its MAPE": retrains["challenger MAPE"].map(percent),
        "Champion then": retrains["compared with"].replace("", "–"),
        "Champion's MAPE": retrains["champion MAPE"].map(percent),
        "Sales compared": retrains["compared sales"].map(lambda n: "–" if pd.isna(n) else f"{n:,.0f}"),
        "Promoted": retrains["promoted"].map({"true": "yes", "false": "no"}).fillna("–"),
        "Why": retrains["decision"].replace("", "–"),
    }), hide_index=True)
    st.caption("Each retrain (`autovalue retrain`) trains a challenger on what the stream has landed and values "
               "the newest sales neither model trained on with both; the challenger becomes champion only when "
               "clearly better (the 95% lower bound of its per-sale gain above zero).")


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
            col.metric(label, text(name, main.get(name)))
        meta = champion.metadata
        facts = [f"trained {meta['trained_at'][:16].replace('T', ' ')} UTC" if meta.get("trained_at") else None,
                 f"{meta['rows']:,} rows" if meta.get("rows") else None,
                 f"feature service {meta['feature_service']}" if meta.get("feature_service") else None,
                 model_metrics.decision(champion.tags.get("champion_decision"))]
        st.caption(" · ".join(f for f in facts if f))
        if main.get("mape_over_noise_floor"):
            st.caption(f"MAPE = {text('mape_over_noise_floor', main['mape_over_noise_floor'])}: the error a "
                       "perfect model would still make on this market, from its listing and sale noise.")

        st.markdown("**All models on the champion's holdout**")
        all_models(champion.metrics)
        shares = model_metrics.deal_shares(main)
        if shares:
            st.caption(f"Deal ratings of the holdout's listings, great / good / fair / high / overpriced: {shares} "
                       "(the bands aim at 10 / 20 / 40 / 20 / 10%).")

        st.subheader("Compared with the previous champion")
        if previous is None:
            st.info("There was no champion before this one.")
        else:
            compared_with(champion, previous)

        if champion.plots:
            st.subheader("Holdout plots")
            columns = st.columns(2)
            for i, plot in enumerate(champion.plots):
                columns[i % 2].image(str(plot), caption=plot.stem.replace("_", " "), width="stretch")
        else:
            st.info(f"No plots were found for {champion.name} (models/{champion.name}/plots or its MLflow run).")

    retrains_table(registry.runs)
    st.subheader("MLflow runs")
    runs_table(registry.runs)
