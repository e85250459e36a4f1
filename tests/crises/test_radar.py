"""The radar end to end on generated histories: every goal of the issue on the demo's labels, silence on calm data."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import polars as pl
import pytest

from cli.demo import build_demo
from metrics.crises.backtest import data_end, evaluate, pool, segment_quarters
from metrics.crises.flag import episodes
from metrics.crises.log import list_crises, record_scan
from metrics.crises.log_rows import OPEN_STATUSES
from metrics.crises.radar import scan
from metrics.kpis.settings import load_settings
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def demo_seed_7(tmp_path_factory):
    """The warehouse `make run` serves (seed 7) and its labels."""
    folder = tmp_path_factory.mktemp("radar")
    db, truth = folder / "demo.duckdb", folder / "truth.json"
    build_demo(db, seed=7, truth_path=truth, log_crises=False)  # the radar tests start from an empty log
    return db, truth


@pytest.fixture(scope="module")
def calm(tmp_path_factory):
    db = tmp_path_factory.mktemp("calm") / "calm.duckdb"
    build_demo(db, seed=3, inject_crises=False, log_crises=False)  # scanned by the test itself
    return db


def test_no_crisis_on_a_calm_history_only_a_few_early_warnings(calm):
    """A calm history raises no crisis at either grain. Weekly, a slide detector sensitive enough to
    warn of a real slide within three weeks also warns now and then by chance: those warnings are
    graded observe (never escalated, never notified by default), say so, and stay rare."""
    con = duckdb.connect(str(calm), read_only=True)
    settings = load_settings(as_of=data_end(con))
    assert scan(con, settings, "day", explain=False).crises == []
    weekly = scan(con, settings, "week", explain=False)
    con.close()
    crises = [c for c in weekly.crises if not c.evidence["early_warning"]]
    assert crises == [], [(c.dimension, c.segment, c.start, c.type) for c in crises]
    assert weekly.crises, "the sensitivity the slides need shows on a calm history too"
    for warning in weekly.crises:
        assert (warning.severity, warning.type, warning.metric) == ("observe", "customer_satisfaction", "csat")
        assert warning.severity_reason.startswith("early warning: a slow slide against its peers, ramp score z=")
        assert warning.evidence["confirmed"] is None
    # Rare: well under the goal's one per segment and quarter (0.23 here; about 0.24 over the
    # backtest's calm histories, 0.11 over all twelve of the README's).
    assert len(weekly.crises) / segment_quarters(weekly) <= 0.35


def test_crises_carry_reasons_severity_and_ranked_contributors(demo_seed_7):
    db, _ = demo_seed_7
    con = duckdb.connect(str(db), read_only=True)
    crises = scan(con, load_settings(as_of=data_end(con)), "week").crises
    con.close()
    onboarding = next(c for c in crises if (c.dimension, c.segment) == ("team", "Onboarding"))
    assert onboarding.type == "service_quality"
    assert "first responses within SLA in team Onboarding fell" in onboarding.type_reason
    assert onboarding.severity in ("major", "critical") and "points:" in onboarding.severity_reason
    shares = [c["contribution"] for c in onboarding.contributors]
    assert shares == sorted(shares, reverse=True)
    assert {c["dimension"] for c in onboarding.contributors} <= {
        "channel", "agent", "product", "region", "category", "customer_tier",
    }  # fmt: skip
    sudden = [c for c in crises if c.type == "sudden_event"]
    assert sudden and all(" → sudden event" in c.type_reason for c in sudden)


def test_the_crisis_chart_shows_the_radars_own_baseline_limit_and_flags(demo_seed_7):
    from metrics.crises.flag import judged_series

    db, _ = demo_seed_7
    con = duckdb.connect(str(db), read_only=True)
    settings = load_settings(as_of=data_end(con))
    result = scan(con, settings, "week", explain=False)
    frame, method = judged_series(con, settings, "first_response_sla", "team", "Onboarding", "week")
    volumes, volume_method = judged_series(con, settings, "ticket_volume", "region", "East", "week")
    con.close()
    judged = result.proportions.filter(
        (pl.col("metric") == "first_response_sla")
        & (pl.col("dimension") == "team")
        & (pl.col("segment") == "Onboarding")
    ).sort("period_start")
    assert frame["period_start"].to_list() == judged["period_start"].to_list()
    assert frame["flagged"].to_list() == judged["flagged"].to_list() and frame["flagged"].any()
    # Attainment is the KPI shown: one minus the breach share the radar judges, its limit below the centre.
    assert frame["value"].to_list() == pytest.approx((1 - judged["p"]).to_list(), nan_ok=True)
    both = frame.drop_nulls(["centre", "limit"])
    assert both.height > 20 and (both["limit"] < both["centre"]).all()
    assert all(value < limit for value, limit in both.filter("flagged").select("value", "limit").iter_rows())
    assert method.startswith(("p-chart", "Laney p' chart")) and "Western Electric" in method
    assert "1" in (frame.filter("flagged")["rules"].drop_nulls().to_list() or [""])[0]
    assert (
        volume_method.startswith("counts against")
        and (volumes.drop_nulls("limit")["limit"] > volumes.drop_nulls("limit")["centre"]).all()
    )


def test_a_failure_in_one_channel_is_one_crisis_not_one_per_team_it_serves(demo_seed_7):
    """The demo's communication failure in email (from 2026-10-09) shows in every team, region and
    product email serves; those places are listed where it was also seen, not opened as crises."""
    db, _ = demo_seed_7
    con = duckdb.connect(str(db), read_only=True)
    crises = scan(con, load_settings(as_of=data_end(con)), "week").crises
    con.close()
    during = [c for c in crises if c.last_flagged >= date(2026, 10, 12) and c.type == "communication_failure"]
    email = next(c for c in during if (c.dimension, c.segment) == ("channel", "email"))
    also = set(email.evidence["also_seen_in"])
    assert {"team Billing", "team Technical", "region East"} <= also, also
    driven_by_email = [
        c for c in during if c is not email and any((x["dimension"], x["segment"]) == ("channel", "email") and
                                                    (x["share"] or 0) >= 0.5 for x in c.contributors)
    ]  # fmt: skip
    assert driven_by_email == [], [(c.dimension, c.segment) for c in driven_by_email]
    # Ten injected crises, not thirty echoes of them; the early warnings of slides are counted apart.
    warnings = [c for c in crises if c.evidence["early_warning"]]
    assert len(crises) - len(warnings) <= 15
    assert all(c.severity == "observe" for c in warnings)


def test_never_flags_the_period_in_progress(demo_seed_7):
    db, _ = demo_seed_7
    con = duckdb.connect(str(db), read_only=True)
    # As of Wednesday 2026-11-11 the week of 2026-11-09 holds only two days: it is not judged.
    settings = load_settings(as_of=load_settings().as_of.replace(year=2026, month=11, day=11, hour=12))
    result = scan(con, settings, "week", explain=False)
    con.close()
    assert result.last_complete is not None and str(result.last_complete) == "2026-11-02"
    assert all(str(c.last_flagged) <= "2026-11-02" for c in result.crises)


def test_logging_a_scan_twice_opens_each_crisis_once(demo_seed_7, tmp_path):
    db, _ = demo_seed_7
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    from pipelines.warehouse.store import connect

    con = connect(copy)
    settings = load_settings(as_of=data_end(con))
    found = scan(con, settings, "week", explain=False).crises
    first = record_scan(con, found, settings.as_of, grain="week")
    second = record_scan(con, found, settings.as_of, grain="week")
    logged = list_crises(con)
    con.close()
    # Two runs of one metric and place at most three weeks apart are one crisis in the log
    # (log._take_signal): count the runs that begin more than three weeks after the last one ended.
    runs, last_seen = 0, {}
    for crisis in sorted(found, key=lambda c: (c.metric, c.dimension, c.segment, c.start)):
        key = (crisis.metric, crisis.dimension, crisis.segment)
        runs += key not in last_seen or (crisis.start - last_seen[key]).days > 21
        last_seen[key] = max(last_seen.get(key, crisis.last_flagged), crisis.last_flagged)
    assert first["opened"] == logged.height == runs
    assert second["opened"] == 0 and second["extended"] == 0


def test_crises_command_json_and_fail_on(demo_seed_7, tmp_path):
    db, _ = demo_seed_7
    copy = tmp_path / "cli.duckdb"
    copy.write_bytes(db.read_bytes())
    result = run_cli("crises", "--db", str(copy), "--since", "2026-07-01", "--json", "--fail-on", "critical")
    records = json.loads(result.stdout)
    assert records, result.stderr
    for record in records:
        assert set(record) >= {
            "id", "type", "metric", "dimension", "segment", "start", "end", "severity", "status", "evidence",
            "contributors",
        }  # fmt: skip
    has_critical = any(r["severity"] == "critical" and r["status"] in OPEN_STATUSES for r in records)
    assert result.returncode == (1 if has_critical else 0)
    calm_exit = run_cli("crises", "--db", str(copy), "--since", "2026-07-01", "--fail-on", "critical").returncode
    assert calm_exit == result.returncode  # the second scan extends, it does not duplicate
    again = json.loads(run_cli("crises", "--db", str(copy), "--since", "2026-07-01", "--json").stdout)
    assert [r["id"] for r in again] == [r["id"] for r in records]
    # Each scan wrote to the crisis log, so each is in the audit log, as the page's "Scan now" is.
    con = duckdb.connect(str(copy), read_only=True)
    scans = con.sql("SELECT action, outcome FROM audit_log WHERE action = 'scan'").fetchall()
    con.close()
    assert scans == [("scan", "done")] * 3


def test_backtest_command(demo_seed_7):
    """The demo's labels, through the command: every goal met at both grains (95% of every kind found,
    within a week and 3 days, types 90% right, false alarms within bounds, slides within 3 weeks)."""
    db, truth = demo_seed_7
    result = run_cli("backtest", "--db", str(db), "--truth", str(truth))
    # Every goal is met on the demo, slow slides within three weeks included (issue 20): exit 0.
    assert result.returncode == 0, result.stdout + result.stderr
    week, day = result.stdout.split("  day: ")
    assert "week: detected 10/10" in week and "goals: all met" in week
    assert "customer_satisfaction: found 3/3 (100%), median delay 21 days" in week
    assert "detected 10/10" in day and "goals: all met" in day
    missing = run_cli("backtest", "--db", str(db), "--truth", "nowhere.json")
    assert missing.returncode == 2
    assert "nowhere.json: labels file not found" in missing.stderr


def test_other_generator_seeds_pooled_meet_every_goal_but_daily_slides():
    """Pooled over four histories the demo does not use, and a fifth without crises: 95% of injected
    crises found at both grains (every kind 95% but slow slides by the day, 90%), weekly within a
    week and daily within 3 days (median), types 90% right, no segment raised as a crisis twice in
    a quarter and false alarms (early warnings included) well under one per segment and quarter.
    Weekly, slow slides are warned of within three weeks (median) and are crises within seven. By
    the day a slide is only ever a crisis (judged on the last complete week): one of these eleven
    was only ever an early warning, so the daily scan misses it, the backtest says so and exits 1."""
    result = run_cli("backtest", "--seeds", "5,11,23,31", "--calm-seeds", "7", "--json", timeout=900)
    pooled = json.loads(result.stdout)
    assert set(pooled["histories"]) == {"seed 5", "seed 11", "seed 23", "seed 31", "seed 7, no crises"}
    for grain in ("week", "day"):
        assert pooled[grain]["injected"] == 45
        assert pooled[grain]["detection_rate"] >= 0.95, pooled[grain]["crises"]
        assert pooled[grain]["type_accuracy"] >= 0.90, pooled[grain]["crises"]
        assert pooled[grain]["max_false_crises_per_segment_quarter"] <= 1
        # Weekly one false crisis in 1,350 segment-quarters; daily two (slides judged by the week).
        assert pooled[grain]["false_crises"] <= 2, pooled[grain]["false_alarm_places"]
        assert pooled[grain]["false_alarms"] / pooled[grain]["segment_quarters"] <= 0.15
        assert pooled[grain]["goals_met"]["false_alarms"], pooled[grain]
        for kind, found in pooled[grain]["by_kind"].items():
            assert found["recall"] >= (0.9 if kind == "customer_satisfaction" else 0.95), (kind, found)
    assert not [goal for goal, met in pooled["week"]["goals_met"].items() if not met], pooled["week"]["goals_met"]
    assert {goal for goal, met in pooled["day"]["goals_met"].items() if not met} <= {"every_kind_found"}
    assert pooled["week"]["median_delay_days"] <= 7
    assert pooled["day"]["median_delay_days"] <= 3
    slides = pooled["week"]["by_kind"]["customer_satisfaction"]
    assert slides["median_delay_days"] <= 21 and slides["median_confirmed_delay_days"] <= 49, slides
    assert result.returncode == 1, result.stderr


def test_a_rate_is_raised_when_its_run_is_long_enough_and_a_burst_at_once():
    """Delay is measured to the period the radar speaks in, not back-dated to the run's first period."""
    days = [date(2026, 3, d) for d in (2, 3, 4)]

    def rows(metric, z_values):
        return pl.DataFrame(
            {
                "metric": metric,
                "dimension": "team",
                "segment": "Billing",
                "period_start": days,
                "z_adj": z_values,
                "excess": 5.0,
                "ratio": 2.0,
                "spike": True,
                "drift": False,
                "p": 0.2,
                "p0": 0.1,
                "n": 50,
                "flagged": [z >= 5 for z in z_values],
                "sustained": [z == 5.1 for z in z_values],  # the pooled last days beyond window_z
            }
        )

    charted = pl.concat(
        [
            rows("reopen_rate", [5.5, 5.2, 0.0]),
            rows("csat", [0.0, 7.5, 0.0]),
            rows("complaint_rate", [0.0, 0.0, 5.1]),
            rows("first_response_sla", [0.0, 0.0, 5.5]),
        ]
    )
    counted = rows("ticket_volume", [6.0, 0.0, 0.0]).drop("sustained").rename({"p": "count", "p0": "expected"})
    found = episodes(charted, counted, "day")
    raised = dict(zip(found["metric"], found["raised"], strict=True))
    assert raised["reopen_rate"] == days[1]  # two flagged days in a row: raised on the second
    assert raised["csat"] == days[1]  # one day beyond alone_z is enough on its own
    assert raised["ticket_volume"] == days[0]  # a volume burst counts at once
    assert raised["complaint_rate"] == days[2]  # one flagged day, but the days before it pooled are beyond doubt
    assert raised["first_response_sla"] is None  # one flagged day alone is not yet a crisis (scan drops it)


def test_a_duration_level_needs_a_run_even_when_one_day_is_extreme():
    """A median of a day's few tickets can leap by chance: unlike a rate, one extreme day never raises it."""
    days = [date(2026, 3, d) for d in (2, 3, 4, 5)]

    def leveled(metric, z_values):
        return pl.DataFrame(
            {
                "metric": metric,
                "dimension": "team",
                "segment": "Billing",
                "period_start": days,
                "z_adj": z_values,
                "excess": 40.0,
                "ratio": 4.0,
                "spike": True,
                "drift": False,
                "value": 120.0,
                "expected": 30.0,
                "n": 40.0,
                "flagged": [z >= 5 for z in z_values],
            }
        )

    levels = pl.concat(
        [leveled("first_response_median", [0.0, 9.0, 0.0, 0.0]), leveled("backlog_age", [0.0, 5.5, 6.0, 0.0])]
    )
    found = episodes(pl.DataFrame(), pl.DataFrame(), "day", levels)
    raised = dict(zip(found["metric"], found["raised"], strict=True))
    assert set(found["kind"]) == {"level"}
    assert raised["first_response_median"] is None  # z = 9 on one day alone: not yet a crisis
    assert raised["backlog_age"] == days[2]  # two days in a row: raised on the second


def test_every_typing_rule_can_fire_and_states_its_reason():
    """Meta-test over crisis_rules.toml: each rule's conditions are facts the radar derives, its reason
    formats, and no earlier rule shadows it (a rule whose conditions alone hold is the one chosen)."""
    from dataclasses import asdict, replace
    from datetime import timedelta

    from metrics.crises.classify import crisis_facts, crisis_type
    from metrics.crises.clusters import Episode
    from metrics.crises.rules import rules

    start = date(2026, 3, 2)
    cluster = [
        Episode(
            metric=spec["metric"],
            dimension="team",
            segment="Billing",
            episode=1,
            kind=spec["kind"],
            start=start,
            last=start + timedelta(days=6),
            peak_z=8.0,
            peak_ratio=3.0,
            excess=60.0,
            baseline=0.1,
            peak_value=0.3,
            spike=True,
            opens_with_spike=True,
            drift=False,
            raised=start,
        )
        for spec in rules()["scan"]["metrics"]
    ]
    facts = crisis_facts(cluster, 0.8, timedelta(days=1))
    booleans = {name for name, value in asdict(facts).items() if isinstance(value, bool)}
    for number, rule in enumerate(rules()["types"]):
        assert set(rule["when"]) <= booleans, (number, rule["when"])
        only_these = replace(facts, **{**dict.fromkeys(booleans, False), **dict.fromkeys(rule["when"], True)})
        chosen, reason = crisis_type(only_these)
        assert chosen == rule["type"], (number, rule)
        assert reason == rule["reason"].format(**{**asdict(only_these), "csat_drop": only_these.csat_points})
        assert "{" not in reason and "→" in reason


def test_pooling_sums_crises_across_histories_and_keeps_any_calm_alarm():
    def history(detected, delays, calm_alarm=False):
        crises = [
            {"type": "sudden_event", "detected": d, "delay_days": t, "detected_type": "sudden_event" if d else None}
            for d, t in zip(detected, delays, strict=True)
        ]
        result = evaluate([], [], "day") | {
            "injected": len(crises),
            "crises": crises,
            "false_alarms": int(calm_alarm),
        }
        result["goals_met"] = {"false_alarms": not calm_alarm}
        return {"day": result}

    pooled = pool([history([True, False], [2, None]), history([True, True, True], [0, 4, 6])])["day"]
    assert (pooled["injected"], pooled["detected"]) == (5, 4)
    assert pooled["detection_rate"] == 0.8 and pooled["median_delay_days"] == 3
    assert pooled["goals_met"]["detection_rate"] is False and pooled["goals_met"]["median_delay"] is True
    with_alarm = pool([history([True], [0]), history([], [], calm_alarm=True)])["day"]
    assert with_alarm["goals_met"]["false_alarms"] is False
