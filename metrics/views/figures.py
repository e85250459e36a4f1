"""The dashboard's charts as Plotly figures, built from the view-model frames in the view's language.

The one place a chart is drawn, so every page draws a KPI the same way and a test can read each
figure: a title, axes titled with their unit, shares on percentage axes, durations in one unit
chosen from the range, the target as a labelled line in the legend (a label on the plot would
sit on the latest points), colour that means something (the KPI line a calm blue, red only for
bad periods, green for unusually good ones) and a split kept to the largest segments.
"""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from metrics.kpis.catalog import metric
from metrics.kpis.formats import format_target
from metrics.kpis.scope import View
from metrics.views.dashboard import incomplete_stretches

BLUE = "#1f77b4"  # the KPI itself: neutral, neither alarm nor praise
BAND = "rgba(31,119,180,0.15)"  # intervals and forecast bands: calm, behind the line
GREY = "#8c8c8c"
RED = "#d62728"  # bad, and only bad
GREEN = "#2ca02c"  # unusually good
SEGMENT_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#b0b0b0")
TOP_SEGMENTS = 5
PARETO_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)

# Every word a chart shows, in both languages: views cannot reach the pages' catalog.
WORDS: dict[str, tuple[str, str]] = {
    "day": ("Day", "日期"),
    "week": ("Week starting", "周（起始日）"),
    "month": ("Month starting", "月（起始日）"),
    "quarter": ("Quarter starting", "季度（起始日）"),
    "by": ("{label} by {grain}", "{label}（按{grain}）"),
    "grain_day": ("day", "日"),
    "grain_week": ("week", "周"),
    "grain_month": ("month", "月"),
    "grain_quarter": ("quarter", "季度"),
    "split": ("{title}, top {n} {dimension}s", "{title}，前{n}个{dimension}"),
    "others": ("others", "其他"),
    "interval": ("95% interval", "95% 置信区间"),
    "limits": ("control limits (3σ)", "控制限（3σ）"),
    "bad": ("unusually bad period", "异常偏差的周期"),
    "good": ("unusually good period", "异常良好的周期"),
    "unusual": ("unusual period", "异常周期"),
    "target": ("target {target}", "目标 {target}"),
    "incomplete": ("incomplete", "不完整"),
    "percent": ("%", "%"),
    "min": ("minutes", "分钟"),
    "h": ("hours", "小时"),
    "d": ("days", "天"),
    "count": ("count", "数量"),
    "score": ("score, −100 to +100", "分值，−100 至 +100"),
    "observed": ("observed", "实际值"),
    "forecast": ("forecast", "预测"),
    "forecast_band": ("95% forecast band", "95% 预测区间"),
    "forecast_title": ("{label}: next 12 weeks forecast", "{label}：未来 12 周预测"),
    "stl_title": ("{label}: trend, seasonal and residual (STL)", "{label}：趋势、季节与残差（STL）"),
    "trend": ("trend", "趋势"),
    "seasonal": ("seasonal", "季节"),
    "residual": ("residual", "残差"),
    "first_response": ("First response time", "首次响应时长"),
    "resolution": ("Resolution time", "解决时长"),
    "duration_title": ("{stage}: share of tickets by duration", "{stage}：各时长区间的工单占比"),
    "tickets_share": ("Share of tickets (%)", "工单占比（%）"),
    "pareto_title": ("Complaint causes (Pareto)", "投诉原因（帕累托）"),
    "cause": ("Cause (category)", "原因（类别）"),
    "complaints": ("Complaints (count)", "投诉数（件）"),
    "cumulative": ("Cumulative share of complaints (%)", "投诉累计占比（%）"),
    "crisis_title": ("{label} in {place}, by {grain}", "{place} 的{label}（按{grain}）"),
    "baseline": ("baseline", "基线"),
    "flag_line": ("radar's flag line", "雷达预警线"),
    "signal_limit": ("flagged: beyond the flag line", "预警：越过预警线"),
    "signal_sustained": ("flagged: recent periods pooled beyond it", "预警：近几期合并后越线"),
    "signal_drift": ("flagged: drift (EWMA and CUSUM)", "预警：持续漂移（EWMA 与 CUSUM）"),
    "signal_slide": ("flagged: slow slide against peers", "预警：相对同类缓慢下滑"),
}
# Dimension names in a chart title ("top 5 agents"); data values (the segments) stay as loaded.
DIMENSIONS_ZH = {"channel": "渠道", "team": "团队", "agent": "客服", "product": "产品", "region": "地区",
                 "category": "类别", "customer_tier": "客户等级"}  # fmt: skip
SIGNALS = ("limit", "sustained", "drift", "slide")


def word(key: str, language: str = "en", **values: object) -> str:
    """A chart word in ``language`` (English for any other), filled with ``values``."""
    english, chinese = WORDS[key]
    return (chinese if language == "zh" else english).format(**values)


def value_axis(fmt: str, values: pl.Series, label: str, language: str) -> tuple[float, str, str]:
    """How a KPI's values are drawn: (multiplier, axis title with its unit, tick format).

    Durations (stored in minutes) take one unit for the whole axis, chosen from the largest value.
    """
    if fmt == "percent":
        finite = values.drop_nulls().drop_nans()
        narrow = finite.len() > 0 and float(finite.max() - finite.min()) < 0.05  # an STL trend moves by tenths
        return 1.0, f"{label} ({word('percent', language)})", ".1%" if narrow else ".0%"
    if fmt == "minutes":
        largest = values.drop_nulls().drop_nans().abs().max() if values.len() else None
        largest = float(largest) if largest is not None else 0.0
        unit, scale = ("min", 1.0) if largest < 120 else ("h", 1 / 60) if largest < 2 * 1440 else ("d", 1 / 1440)
        return scale, f"{label} ({word(unit, language)})", ",.1f" if scale != 1.0 else ",.0f"
    if fmt == "count":
        return 1.0, f"{label} ({word('count', language)})", ",.0f"
    if fmt == "score":
        return 100.0, f"{label} ({word('score', language)})", "+.0f"
    return 1.0, label, ",.2f"  # decimal KPIs carry their scale in their label: "Mean score (1-5)"


def layout(figure: go.Figure, title: str, x_title: str, y_title: str, tickformat: str | None = None) -> go.Figure:
    """Title, both axis titles and a legend above the plot, where it covers neither data nor tick labels."""
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        xaxis_title=x_title,
        yaxis_title=y_title,
        # Above the plot, in the order drawn (a filled band would otherwise reverse it).
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "xanchor": "left", "traceorder": "normal"},
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        hovermode="x unified",
    )
    if tickformat:
        figure.update_yaxes(tickformat=tickformat)
    return figure


def target_trace(target: float, scale: float, fmt: str, bound: str, periods: pl.Series, language: str) -> go.Scatter:
    """The target as a dashed line named in the legend: a label on the plot would hide the latest points."""
    text = format_target(bound, target, fmt)
    return go.Scatter(
        x=[periods.min(), periods.max()], y=[target * scale] * 2, mode="lines", name=word("target", language,
        target=text), line={"dash": "dash", "color": GREY, "width": 1.5}, hoverinfo="skip",
    )  # fmt: skip


def top_segments(series: pl.DataFrame, name: str, top: int = TOP_SEGMENTS) -> tuple[pl.DataFrame, int]:
    """The ``top`` segments by volume, the rest pooled as "others" where a pooled value is honest.

    Shares pool numerators and denominators, counts add up; a median cannot be pooled from
    medians, so for those the rest is left out (the title says top N). Returns the frame and
    how many segments there were.
    """
    volume = series.group_by("segment").agg(pl.col("n").sum().alias("_volume"))
    kept = volume.sort(["_volume", "segment"], descending=[True, False]).head(top)["segment"]
    count = volume.height
    shown = series.filter(pl.col("segment").is_in(kept.implode()))
    rest = series.filter(~pl.col("segment").is_in(kept.implode()))
    kind = metric(name).kind
    shown = shown.select("period_start", "value", "segment", pl.lit(False).alias("others"))
    if rest.is_empty() or kind not in ("proportion", "count"):
        return shown, count
    pooled = rest.group_by("period_start").agg(
        pl.col("numerator").sum(), pl.col("denominator").sum(), pl.col("value").sum().alias("_sum")
    )
    value = pl.col("numerator") / pl.col("denominator") if kind == "proportion" else pl.col("_sum")
    others = pooled.select(
        "period_start", value.alias("value"), pl.lit("").alias("segment"), pl.lit(True).alias("others")
    )
    return pl.concat([shown, others], how="vertical_relaxed"), count


def kpi_trend(series: pl.DataFrame, view: View, name: str, grain: str, dimension: str | None = None) -> go.Figure:
    """One KPI over time: the line, its interval, control limits, outliers coloured by direction, target."""
    m, language = metric(name), view.language
    label = view.label(name)
    scale, y_title, tickformat = value_axis(m.format, series["value"], label, language)
    grain_word = word(f"grain_{grain}", language)
    title = word("by", language, label=label, grain=grain_word)
    figure = go.Figure()
    if dimension is not None:
        shown, count = top_segments(series, name)
        segments = shown.select("others", "segment").unique().sort("others", "segment").iter_rows()
        for index, (others, segment) in enumerate(segments):  # the top segments by name, "others" last
            part = shown.filter((pl.col("segment") == segment) & (pl.col("others") == others)).sort("period_start")
            figure.add_trace(go.Scatter(x=part["period_start"], y=part["value"] * scale, mode="lines",
                                        name=word("others", language) if others else segment,
                                        line={"color": SEGMENT_COLOURS[-1 if others else index],
                                              "width": 1.5 if others else 2}))  # fmt: skip
        if count > TOP_SEGMENTS:
            named = DIMENSIONS_ZH.get(dimension, dimension) if language == "zh" else dimension
            title = word("split", language, title=title, n=TOP_SEGMENTS, dimension=named)
    else:
        part = series.sort("period_start")
        add_interval(figure, part, scale, language)
        figure.add_trace(go.Scatter(x=part["period_start"], y=part["value"] * scale, mode="lines+markers",
                                    name=label, line={"color": BLUE, "width": 2}, marker={"size": 5}))  # fmt: skip
        add_limits(figure, part, scale, m.direction, language)
    target = series["target"].drop_nulls()
    if target.len():
        bound = "max" if m.direction == "lower" else "min"
        figure.add_trace(target_trace(target[0], scale, m.format, bound, series["period_start"], language))
    for stretch in incomplete_stretches(series).iter_rows(named=True):
        figure.add_vrect(x0=stretch["start"], x1=stretch["end"], fillcolor=GREY, opacity=0.1, line_width=0,
                         annotation_text=word("incomplete", language), annotation_position="top left")  # fmt: skip
    return layout(figure, title, word(grain, language), y_title, tickformat)


def add_interval(figure: go.Figure, part: pl.DataFrame, scale: float, language: str) -> None:
    if part["ci_low"].null_count() == part.height:
        return
    figure.add_traces(band(part["period_start"], part["ci_low"] * scale, part["ci_high"] * scale,
                           word("interval", language)))  # fmt: skip


def band(x: pl.Series, low: pl.Series, high: pl.Series, name: str) -> list[go.Scatter]:
    """A calm filled band between two edges (the upper edge unnamed): an interval or a forecast band."""
    edge = {"width": 0}
    return [
        go.Scatter(x=x, y=high, mode="lines", line=edge, showlegend=False, hoverinfo="skip"),
        go.Scatter(x=x, y=low, mode="lines", line=edge, fill="tonexty", fillcolor=BAND, name=name, hoverinfo="skip"),
    ]


def add_limits(figure: go.Figure, part: pl.DataFrame, scale: float, direction: str, language: str) -> None:
    """Control limits, and the periods outside them: red when bad for the KPI, green when unusually good."""
    if part["ucl"].null_count() == part.height:
        return
    for column, legend in (("ucl", True), ("lcl", False)):
        figure.add_trace(go.Scatter(x=part["period_start"], y=part[column] * scale, name=word("limits", language),
                                    showlegend=legend, mode="lines", line={"dash": "dot", "color": GREY, "width": 1},
                                    hoverinfo="skip"))  # fmt: skip
    high_is = {"higher": "good", "lower": "bad"}.get(direction, "unusual")
    low_is = {"higher": "bad", "lower": "good"}.get(direction, "unusual")
    looks = {"bad": (RED, "x", 11), "good": (GREEN, "circle", 10), "unusual": (GREY, "diamond", 10)}
    for flag, meaning in (("above_limit", high_is), ("below_limit", low_is)):
        points = part.filter(pl.col(flag))
        if points.is_empty():
            continue
        colour, symbol, size = looks[meaning]
        figure.add_trace(go.Scatter(x=points["period_start"], y=points["value"] * scale, mode="markers",
                                    name=word(meaning, language), meta=meaning,
                                    marker={"color": colour, "symbol": symbol, "size": size}))  # fmt: skip


def forecast(trend: dict, view: View, name: str) -> go.Figure:
    """The complete weeks and the next twelve: a dashed forecast in a calm band, in the KPI's units."""
    m, language, label = metric(name), view.language, view.label(name)
    history, ahead = trend["history"], trend["forecast"]
    values = pl.concat([history["value"], ahead["high"], ahead["low"]]) if ahead.height else history["value"]
    scale, y_title, tickformat = value_axis(m.format, values, label, language)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=history["period_start"], y=history["value"] * scale, mode="lines",
                                name=word("observed", language), line={"color": BLUE, "width": 2}))  # fmt: skip
    if ahead.height:
        figure.add_traces(band(ahead["period_start"], ahead["low"] * scale, ahead["high"] * scale,
                               word("forecast_band", language)))  # fmt: skip
        figure.add_trace(go.Scatter(x=ahead["period_start"], y=ahead["forecast"] * scale, name=word("forecast",
                                    language), mode="lines", line={"dash": "dash", "color": BLUE}))  # fmt: skip
    title = word("forecast_title", language, label=label)
    return layout(figure, title, word("week", language), y_title, tickformat)


def stl(components: pl.DataFrame, view: View, name: str) -> go.Figure:
    """Trend, seasonal and residual each on its own panel and scale: on one axis two of them look flat."""
    m, language, label = metric(name), view.language, view.label(name)
    parts = ("trend", "seasonal", "residual")
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    for row, column in enumerate(parts, start=1):
        scale, y_title, tickformat = value_axis(m.format, components[column], word(column, language), language)
        figure.add_trace(go.Scatter(x=components["period_start"], y=components[column] * scale, mode="lines",
                                    name=word(column, language), line={"color": BLUE if row == 1 else GREY}),
                         row=row, col=1)  # fmt: skip
        figure.update_yaxes(title_text=y_title, tickformat=tickformat, row=row, col=1)
    figure.update_xaxes(title_text=word("week", language), row=3, col=1)
    figure.update_layout(
        title={"text": word("stl_title", language, label=label), "x": 0, "xanchor": "left"},
        showlegend=False,
        height=540,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return figure


def duration_distribution(distribution: pl.DataFrame, view: View, stage: str) -> go.Figure:
    """Each duration bucket's share of tickets on a percentage axis, the ticket count on the bar."""
    language = view.language
    ordered = distribution.sort("position")
    buckets = [bucket_label(b, language) for b in ordered["bucket"].to_list()]
    figure = go.Figure(go.Bar(x=buckets, y=ordered["share"], marker_color=BLUE, name=word("tickets_share", language),
                              text=[f"{n:,}" for n in ordered["tickets"].to_list()], textposition="outside",
                              cliponaxis=False))  # fmt: skip
    stage_word = word(stage, language)
    title = word("duration_title", language, stage=stage_word)
    figure = layout(figure, title, stage_word, word("tickets_share", language), ".0%")
    return figure.update_layout(showlegend=False)


def bucket_label(bucket: str, language: str) -> str:
    """A duration bucket's label ("1-3 days") in the chart's language: the units are the only words."""
    if language != "zh":
        return bucket
    for english, chinese in ((" days", " 天"), (" min", " 分钟"), (" h", " 小时")):
        bucket = bucket.replace(english, chinese)
    return bucket


def pareto(pareto_frame: pl.DataFrame, view: View) -> go.Figure:
    """Complaints per cause, largest first, and their cumulative share on round ticks; axes, not a legend,
    say which is which, so nothing covers the long cause names."""
    language = view.language
    figure = go.Figure()
    figure.add_trace(go.Bar(x=pareto_frame["cause"], y=pareto_frame["complaints"], marker_color=BLUE,
                            name=word("complaints", language)))  # fmt: skip
    figure.add_trace(go.Scatter(x=pareto_frame["cause"], y=pareto_frame["cumulative_share"], yaxis="y2",
                                mode="lines+markers", line={"color": GREY},
                                name=word("cumulative", language)))  # fmt: skip
    figure = layout(figure, word("pareto_title", language), word("cause", language), word("complaints", language))
    figure.update_layout(
        showlegend=False,
        yaxis={"tickformat": ",.0f"},
        yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "tickvals": list(PARETO_TICKS),
                "range": [0, 1.05], "title": {"text": word("cumulative", language)}, "showgrid": False},
        xaxis={"tickangle": -30, "automargin": True},
    )  # fmt: skip
    return figure


def crisis(series: pl.DataFrame, view: View, name: str, place: str, grain: str) -> go.Figure:
    """A crisis's metric as the radar judged it: its baseline, the line it flags beyond, and each flagged
    period marked by the rule that fired (a drift flags periods inside the line, and the legend says so)."""
    m, language, label = metric(name), view.language, view.label(name)
    values = pl.concat([series["value"], series["flag_limit"]])
    scale, y_title, tickformat = value_axis(m.format, values, label, language)
    x = series["period_start"]
    figure = go.Figure(go.Scatter(x=x, y=series["value"] * scale, mode="lines+markers", name=label,
                                  line={"color": BLUE, "width": 2}, marker={"size": 5}))  # fmt: skip
    figure.add_trace(go.Scatter(x=x, y=series["centre"] * scale, name=word("baseline", language),
                                line={"color": GREY, "width": 1}))  # fmt: skip
    figure.add_trace(go.Scatter(x=x, y=series["flag_limit"] * scale, name=word("flag_line", language),
                                line={"dash": "dot", "color": RED, "width": 1}))  # fmt: skip
    symbols = {"limit": "x", "sustained": "square", "drift": "diamond", "slide": "triangle-down"}
    for signal in SIGNALS:
        flagged = series.filter(pl.col("flagged") & (pl.col("signal") == signal))
        if flagged.is_empty():
            continue
        figure.add_trace(go.Scatter(x=flagged["period_start"], y=flagged["value"] * scale, mode="markers",
                                    name=word(f"signal_{signal}", language), meta="flagged",
                                    marker={"color": RED, "size": 11, "symbol": symbols[signal]}))  # fmt: skip
    title = word("crisis_title", language, label=label, place=place, grain=word(f"grain_{grain}", language))
    return layout(figure, title, word(grain, language), y_title, tickformat)


def flagged_periods(figure: go.Figure) -> list[date]:
    """The periods a crisis figure marks as flagged, for a reader (the test) that checks them."""
    marked = [trace.x for trace in figure.data if trace.meta == "flagged"]  # Plotly holds numpy datetime64 arrays
    return sorted(day for x in marked for day in pl.Series(x).cast(pl.Date).to_list())
