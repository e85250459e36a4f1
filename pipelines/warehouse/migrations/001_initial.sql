-- Canonical tables. Grain: tickets = one row per ticket, survey_responses = one row per
-- answer, complaints = one row per complaint, batches = one row per ingested file,
-- rejected_rows = one row per source row that could not be loaded.
CREATE SEQUENCE batch_id_seq START 1;

CREATE TABLE batches (
    batch_id        BIGINT PRIMARY KEY,
    file_name       VARCHAR NOT NULL,
    content_hash    VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,
    profile         VARCHAR NOT NULL,
    mapping         JSON,
    file_format     VARCHAR,
    encoding        VARCHAR,
    source_tz       VARCHAR,
    rows_read       BIGINT NOT NULL,
    rows_loaded     BIGINT NOT NULL,
    rows_updated    BIGINT NOT NULL,
    rows_duplicate  BIGINT NOT NULL,
    rows_rejected   BIGINT NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    loaded_by       VARCHAR,
    status          VARCHAR NOT NULL DEFAULT 'loaded'
);

CREATE TABLE rejected_rows (
    batch_id     BIGINT NOT NULL,
    line_number  BIGINT,
    raw_record   JSON,
    reason       VARCHAR NOT NULL,
    column_name  VARCHAR
);

CREATE TABLE tickets (
    ticket_id          VARCHAR PRIMARY KEY,
    created_at         TIMESTAMPTZ NOT NULL,
    first_response_at  TIMESTAMPTZ,
    resolved_at        TIMESTAMPTZ,
    closed_at          TIMESTAMPTZ,
    status             VARCHAR,
    channel            VARCHAR,
    category           VARCHAR,
    priority           VARCHAR,
    team               VARCHAR,
    agent              VARCHAR,
    customer_id        VARCHAR,
    customer_tier      VARCHAR,
    region             VARCHAR,
    product            VARCHAR,
    is_complaint       BOOLEAN,
    reopen_count       INTEGER,
    agent_replies      INTEGER,
    attributes         JSON,
    row_hash           VARCHAR NOT NULL,
    batch_id           BIGINT NOT NULL
);

CREATE TABLE survey_responses (
    response_id         VARCHAR PRIMARY KEY,
    ticket_id           VARCHAR,
    responded_at        TIMESTAMPTZ NOT NULL,
    survey_type         VARCHAR NOT NULL,
    score               DOUBLE NOT NULL,
    scale               VARCHAR NOT NULL,
    is_satisfied        BOOLEAN NOT NULL,
    comment             VARCHAR,
    dim_tangibles       DOUBLE,
    dim_reliability     DOUBLE,
    dim_responsiveness  DOUBLE,
    dim_assurance       DOUBLE,
    dim_empathy         DOUBLE,
    attributes          JSON,
    row_hash            VARCHAR NOT NULL,
    batch_id            BIGINT NOT NULL
);

CREATE TABLE complaints (
    complaint_id       VARCHAR PRIMARY KEY,
    ticket_id          VARCHAR,
    created_at         TIMESTAMPTZ NOT NULL,
    first_response_at  TIMESTAMPTZ,
    resolved_at        TIMESTAMPTZ,
    status             VARCHAR,
    category           VARCHAR,
    channel            VARCHAR,
    product            VARCHAR,
    region             VARCHAR,
    team               VARCHAR,
    customer_id        VARCHAR,
    severity           VARCHAR,
    text               VARCHAR,
    attributes         JSON,
    row_hash           VARCHAR NOT NULL,
    batch_id           BIGINT NOT NULL
);
