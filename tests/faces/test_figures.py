"""The charts a manager reads in two seconds: every figure the pages draw, read back from Plotly.

Titles, axis titles with units, percentage axes for shares, one duration unit per axis, round
Pareto ticks, a calm forecast band, STL on its own panels, splits kept to six lines, colour
by meaning, and the crisis chart marking exactly the periods the radar's scan flagged.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import duckdb
import plotly.graph_objects as go
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from metrics.crises.log import get_crisis, list_crises
from metrics.crises.radar import scan
from metrics.kpis.catalog import metric
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings, on_data_clock
from metrics.views import dashboard, figures
from tests.conftest import ROOT

LANGUAGES = ("en", "zh")


@pytest.fixture(scope="module")
def warehouse(demo, tmp_path_factory):
    """A read-only connection to a copy of the session's demo, and its settings on the data's clock."""
    db = tmp_path_factory.mktemp("figures") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = duckdb.connect(str(db), read_only=True)
    yield db, con, on_data_clock(con, load_settings())
    con.close()


@pytest.fixture(scope="module")
def drawn(warehouse):
    """Every page's figures in both languages, as the pages build them: {(language, name): figure}."""
    _, con, settings = warehouse
    result = {}
    for language in LANGUAGES:
        view = View(language=language)
        trend = dashboard.weekly_trend_view(con, settings, view, "csat")
        assert trend is not None and trend["forecast"].height and trend["components"].height
        for name, grain in (("csat", "week"), ("first_response_median", "week"), ("ticket_volume", "month")):
            series = dashboard.kpi_series(con, settings, view, name, grain, None)
            result[language, name] = figures.kpi_trend(series, view, name, grain)
        rate = dashboard.kpi_series(con, settings, view, "complaint_rate", "week", None)
        result[language, "complaint_rate"] = figures.kpi_trend(rate, view, "complaint_rate", "week")
        result[language, "forecast"] = figures.forecast(trend, view, "csat")
        result[language, "stl"] = figures.stl(trend["components"], view, "csat")
        for stage in ("first_response", "resolution"):
            distribution = dashboard.duration_distribution(con, settings, view, stage)
            result[language, stage] = figures.duration_distribution(distribution, view, stage)
        result[language, "pareto"] = figures.pareto(dashboard.complaint_pareto(con, settings, view), view)
    return result


def axis_titles(figure: go.Figure, axis: str) -> list[str | None]:
    """The titles of every x or y axis of a figure (a figure of panels has one per panel)."""
    names = [name for name in figure.layout.to_plotly_json() if name.startswith(axis)] or [axis]
    return [figure.layout[name].title.text for name in names]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_chart_has_a_title_and_both_axes_titled(drawn, language):
    for (lang, name), figure in drawn.items():
        if lang != language:
            continue
        assert figure.layout.title.text, name
        # Every value axis titled; panels sharing a time axis title it once, under the last.
        assert all(axis_titles(figure, "yaxis")) and any(axis_titles(figure, "xaxis")), name
    if language == "zh":  # the chart's own words follow the language; the data's values stay as loaded
        assert drawn["zh", "csat"].layout.xaxis.title.text == "周（起始日）"
        assert "投诉原因" in drawn["zh", "pareto"].layout.title.text


def test_kpi_axes_name_their_unit_and_shares_read_as_percentages(drawn):
    csat = drawn["en", "csat"]
    assert csat.layout.yaxis.title.text == "CSAT (%)" and csat.layout.yaxis.tickformat == ".0%"
    assert csat.layout.xaxis.title.text == "Week starting"
    # A share moving within a few points (the complaint rate) keeps a decimal so its ticks differ.
    assert drawn["en", "complaint_rate"].layout.yaxis.tickformat == ".1%"
    assert drawn["en", "ticket_volume"].layout.yaxis.title.text.endswith("(count)")
    for stage in ("first_response", "resolution"):
        bars = drawn["en", stage]
        assert bars.layout.yaxis.tickformat == ".0%" and "(%)" in bars.layout.yaxis.title.text
        assert sum(bars.data[0].y) == pytest.approx(1.0)  # shares of all tickets with that duration


def test_a_duration_axis_takes_one_unit_chosen_from_its_range(drawn, warehouse):
    _, con, settings = warehouse
    figure = drawn["en", "first_response_median"]
    title = figure.layout.yaxis.title.text
    minutes = dashboard.kpi_series(con, settings, View(), "first_response_median", "week", None)["value"]
    largest = minutes.max()
    unit, divisor = ("minutes", 1) if largest < 120 else ("hours", 60) if largest < 2880 else ("days", 1440)
    assert title == f"{View().label('first_response_median')} ({unit})"
    line = next(trace for trace in figure.data if trace.name == View().label("first_response_median"))
    assert max(line.y) == pytest.approx(largest / divisor)
    # The target is drawn in the same unit and named in the legend, never as a label on the plot.
    target = next(trace for trace in figure.data if (trace.name or "").startswith("target"))
    assert target.y[0] == pytest.approx(settings.target_for("first_response_median").value / divisor)
    assert not figure.layout.annotations or all(a.text == "incomplete" for a in figure.layout.annotations)


def test_outliers_are_coloured_by_what_they_mean_and_the_kpi_line_is_blue(warehouse):
    _, con, settings = warehouse
    view = View()
    series = dashboard.kpi_series(con, settings, view, "first_response_sla", "week", None)
    figure = figures.kpi_trend(series, view, "first_response_sla", "week")
    by_name = {trace.name: trace for trace in figure.data}
    assert by_name[view.label("first_response_sla")].line.color == figures.BLUE
    good, bad = by_name.get("unusually good period"), by_name.get("unusually bad period")
    assert good is not None and bad is not None, "the demo's first-reply attainment has weeks beyond both limits"
    # Higher attainment is better: above the upper limit is good (green), below the lower is bad (red ✖).
    assert list(good.x) == series.filter("above_limit").sort("period_start")["period_start"].to_list()
    assert list(bad.x) == series.filter("below_limit").sort("period_start")["period_start"].to_list()
    assert good.marker.color == figures.GREEN and good.marker.symbol != "x"
    assert bad.marker.color == figures.RED and bad.marker.symbol == "x"


def test_round_pareto_ticks_and_no_legend_over_the_cause_names(drawn):
    figure = drawn["en", "pareto"]
    assert list(figure.layout.yaxis2.tickvals) == [0, 0.25, 0.5, 0.75, 1.0]
    assert figure.layout.yaxis2.tickformat == ".0%" and figure.layout.yaxis2.title.text
    assert figure.layout.showlegend is False


def test_the_forecast_band_is_calm_and_stl_components_have_their_own_panels(drawn):
    for language in LANGUAGES:
        bands = [trace.fillcolor for trace in drawn[language, "forecast"].data if trace.fill]
        assert bands
        for colour in bands:
            red, green, blue = (float(c) for c in colour.split("(")[1].split(",")[:3])
            assert blue > red and green > red, colour  # blue-grey, not an alarm
        stl = drawn[language, "stl"]
        assert len({trace.yaxis for trace in stl.data}) == 3 == len(stl.data)
        assert all(stl.layout[f"yaxis{n}"].title.text for n in ("", "2", "3"))


def test_a_split_shows_the_five_largest_segments_and_the_others_pooled(warehouse):
    _, con, settings = warehouse
    view = View()
    series = dashboard.kpi_series(con, settings, view, "csat", "week", "agent")
    assert series["segment"].n_unique() > 6
    figure = figures.kpi_trend(series, view, "csat", "week", "agent")
    lines = [trace for trace in figure.data if not (trace.name or "").startswith("target")]
    assert len(lines) == 6 and lines[-1].name == "others" and "top 5 agents" in figure.layout.title.text
    volume = series.group_by("segment").agg(pl.col("n").sum()).sort(["n", "segment"], descending=[True, False])
    assert [line.name for line in lines[:5]] == sorted(volume.head(5)["segment"].to_list())
    # "others" is the pooled share of every other agent, not an average of their percentages.
    rest = series.filter(~pl.col("segment").is_in(volume.head(5)["segment"].implode()))
    week = rest["period_start"].max()
    pooled = rest.filter(pl.col("period_start") == week).select(pl.col("numerator").sum() / pl.col("denominator").sum())
    shown = dict(zip(pl.Series(lines[-1].x).cast(pl.Date).to_list(), lines[-1].y, strict=True))
    assert shown[week] == pytest.approx(pooled.item())


def test_the_crisis_chart_marks_exactly_the_periods_the_scan_flagged(warehouse):
    _, con, settings = warehouse
    judged = scan(con, settings, "week", explain=False)
    frames = {"proportion": judged.proportions, "volume": judged.volumes, "level": judged.levels}
    crises = list_crises(con)
    assert crises.height >= 3
    inside = 0
    for crisis_id in crises.filter(pl.col("grain") == "week")["crisis_id"].to_list():
        crisis = get_crisis(con, crisis_id)
        start = crisis["start_period"] - timedelta(days=182)
        view = View(date_from=start)
        series, _ = dashboard.crisis_chart(con, settings, view, crisis["metric"], crisis["dimension"],
                                           crisis["segment"], "week")  # fmt: skip
        figure = figures.crisis(series, View(), crisis["metric"], "here", "week")
        kind = crisis["evidence"]["kind"]
        expected = (
            frames[kind]
            .filter(
                (pl.col("metric") == crisis["metric"])
                & (pl.col("dimension") == crisis["dimension"])
                & (pl.col("segment") == crisis["segment"])
                & (pl.col("period_start") >= start)
                & pl.col("flagged")
            )["period_start"]
            .sort()
            .to_list()
        )
        assert expected, crisis_id
        assert figures.flagged_periods(figure) == expected
        # A flag beyond the line sits beyond it; one inside it names the rule that fired instead.
        bad_side = -1 if metric(crisis["metric"]).direction == "higher" else 1
        for trace in (t for t in figure.data if t.meta == "flagged"):
            line = dict(zip(figure.data[2].x, figure.data[2].y, strict=True))
            beyond = [bad_side * (y - line[x]) >= -1e-9 for x, y in zip(trace.x, trace.y, strict=True)]
            if trace.name == "flagged: beyond the flag line":
                assert all(beyond), crisis_id
            else:
                assert trace.name.startswith("flagged: ") and trace.name != "flagged: beyond the flag line"
                inside += not all(beyond)
    assert inside, "the demo has a drift flagged inside the line, and its legend says so"


@pytest.fixture(scope="module")
def app_db(demo, tmp_path_factory):
    """A copy of the demo of its own for the app: the figures' fixture holds its copy open read-only."""
    db = tmp_path_factory.mktemp("figures_app") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = duckdb.connect(str(db), read_only=True)
    try:  # the crisis page opens on the crisis a link names
        crisis_id = list_crises(con)["crisis_id"].max()
    finally:
        con.close()
    return db, crisis_id


def chart_specs(app: AppTest) -> list[dict]:
    return [json.loads(element.proto.spec) for element in app.get("plotly_chart")]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", ["trends", "service_levels", "complaints", "crisis_radar"])
def test_each_chart_page_renders_its_charts_in_both_languages(app_db, monkeypatch, page, language):
    db, crisis_id = app_db
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["lang"] = language
    app.query_params["crisis"] = str(crisis_id)
    app.run()
    app.switch_page(f"pages/{page}.py")
    app.run()
    assert not app.exception, app.exception
    specs = chart_specs(app)
    assert specs, page
    for spec in specs:
        layout = spec["layout"]
        axes = {name: axis.get("title", {}).get("text") for name, axis in layout.items() if name[1:5] == "axis"}
        assert layout["title"]["text"], page
        assert all(title for name, title in axes.items() if name.startswith("y")), (page, axes)
        assert any(title for name, title in axes.items() if name.startswith("x")), (page, axes)
    if language == "zh":
        assert all(any("\u4e00" <= c <= "\u9fff" for c in spec["layout"]["title"]["text"]) for spec in specs)
