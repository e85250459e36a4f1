-- The crisis log: what the radar detected and how people handled it (DOMAIN.md, the five-step process).
-- Grain: crises = one row per crisis (one episode of one metric in one segment at one grain; a new
-- episode after a crisis was resolved is a new row), crisis_events = one row per thing that happened
-- to a crisis (the audit trail of handling), crisis_severity_history = one row per severity a crisis had.
-- JSON columns hold what the detector handed on (evidence, contributors, signals) and the "5 whys" list.
CREATE SEQUENCE crisis_id_seq START 1;
CREATE SEQUENCE crisis_event_id_seq START 1;

CREATE TABLE crises (
    crisis_id                BIGINT PRIMARY KEY,
    metric                   VARCHAR NOT NULL,
    dimension                VARCHAR NOT NULL,
    segment                  VARCHAR NOT NULL,
    type                     VARCHAR NOT NULL,
    type_reason              VARCHAR,
    severity                 VARCHAR NOT NULL,
    severity_reason          VARCHAR,
    grain                    VARCHAR NOT NULL,
    start_period             DATE NOT NULL,
    last_flagged             DATE NOT NULL,
    end_period               DATE,                -- null while ongoing
    status                   VARCHAR NOT NULL,    -- one of metrics.crisis_model.STATUSES
    owner                    VARCHAR,
    evidence                 JSON,
    contributors             JSON,
    signals                  JSON,
    recovery_proposed_at     TIMESTAMPTZ,
    recovery_periods         INTEGER NOT NULL DEFAULT 0,  -- periods back inside limits so far
    recovery_counted_period  DATE,                -- the last period counted in recovery_periods (once per period)
    fishbone_category        VARCHAR,             -- root-cause review: one of FISHBONE_CATEGORIES
    five_whys                JSON,                -- list of strings
    actions_taken            VARCHAR,
    review_text              VARCHAR,
    created_at               TIMESTAMPTZ NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL
);

CREATE TABLE crisis_events (
    event_id    BIGINT PRIMARY KEY,  -- from crisis_event_id_seq: the order things happened in
    crisis_id   BIGINT NOT NULL,
    "at"        TIMESTAMPTZ NOT NULL,  -- quoted: AT is a keyword in DuckDB (write "at" in queries)
    actor       VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,    -- detected, extended, severity_changed, acknowledged, status_changed,
                                     -- recovery_proposed, recovery_confirmed, reviewed
    from_value  VARCHAR,
    to_value    VARCHAR,
    note        VARCHAR
);

CREATE TABLE crisis_severity_history (
    crisis_id    BIGINT NOT NULL,
    period       DATE NOT NULL,       -- the flagged period the severity was graded on
    severity     VARCHAR NOT NULL,
    reason       VARCHAR,
    recorded_at  TIMESTAMPTZ NOT NULL
);
