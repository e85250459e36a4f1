"""The usual alternative: a careful analyst's pandas script that re-reads the exports for weekly KPIs by channel.

Run as ``python -m benchmarks.pandas_kpis TICKETS SURVEYS COMPLAINTS``; prints the number of rows of KPIs.
Timestamps are parsed with an explicit format, as the analyst would after the first slow run.
"""

from __future__ import annotations

import sys

import pandas as pd

FORMAT = "%Y-%m-%d %H:%M:%S"


def weekly_kpis(tickets_csv: str, surveys_csv: str, complaints_csv: str) -> pd.DataFrame:
    """Tickets, first-response SLA, response and resolution medians and p90s, reopen and complaint rates, CSAT."""
    times = ["created_at", "first_response_at", "resolved_at"]
    tickets = pd.read_csv(tickets_csv, usecols=["ticket_id", *times, "channel", "is_complaint", "reopen_count"])
    for column in times:
        tickets[column] = pd.to_datetime(tickets[column], format=FORMAT)
    tickets["week"] = tickets["created_at"].dt.to_period("W-SUN").dt.start_time
    tickets["response_minutes"] = (tickets["first_response_at"] - tickets["created_at"]).dt.total_seconds() / 60
    tickets["resolution_minutes"] = (tickets["resolved_at"] - tickets["created_at"]).dt.total_seconds() / 60
    inquiries = tickets[~tickets["is_complaint"]]
    within = inquiries["response_minutes"] <= 60
    groups = tickets.groupby(["week", "channel"])
    kpis = pd.DataFrame(
        {
            "tickets": groups.size(),
            "first_response_median": groups["response_minutes"].median(),
            "first_response_p90": groups["response_minutes"].quantile(0.9),
            "resolution_median": groups["resolution_minutes"].median(),
            "resolution_p90": groups["resolution_minutes"].quantile(0.9),
            "reopen_rate": groups["reopen_count"].apply(lambda s: (s > 0).mean()),
            "first_response_sla": within.groupby([inquiries["week"], inquiries["channel"]]).mean(),
        }
    )
    complaints = pd.read_csv(complaints_csv, usecols=["complaint_id", "created_at", "channel"])
    complaints["week"] = pd.to_datetime(complaints["created_at"], format=FORMAT).dt.to_period("W-SUN").dt.start_time
    kpis["complaint_rate"] = complaints.groupby(["week", "channel"]).size() / kpis["tickets"]
    surveys = pd.read_csv(surveys_csv, usecols=["ticket_id", "responded_at", "is_satisfied", "survey_type"])
    surveys = surveys[surveys["survey_type"] == "csat"].merge(tickets[["ticket_id", "channel"]], on="ticket_id")
    surveys["week"] = pd.to_datetime(surveys["responded_at"], format=FORMAT).dt.to_period("W-SUN").dt.start_time
    kpis["csat"] = surveys.groupby(["week", "channel"])["is_satisfied"].mean()
    return kpis.reset_index()


if __name__ == "__main__":
    print(len(weekly_kpis(*sys.argv[1:4])))
