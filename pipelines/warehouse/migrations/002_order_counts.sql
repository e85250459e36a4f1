-- Order counts uploaded by the organisation, the optional denominator of the complaint rate.
-- Grain: one row per day and segment (channel, product, region, team as the export gives them).
CREATE TABLE order_counts (
    order_count_id  VARCHAR PRIMARY KEY,
    created_at      TIMESTAMPTZ NOT NULL,
    orders          BIGINT NOT NULL,
    channel         VARCHAR,
    product         VARCHAR,
    region          VARCHAR,
    team            VARCHAR,
    attributes      JSON,
    row_hash        VARCHAR NOT NULL,
    batch_id        BIGINT NOT NULL
);
