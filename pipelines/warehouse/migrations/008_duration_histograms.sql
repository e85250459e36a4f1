-- Weekly duration histograms (metrics/cube.py): medians and p90s over whole weeks without the raw rows.
-- Grain: one row per duration (``key``, shared by the metrics that read the same durations), local
-- week, dimension, segment and bucket; a bucket spans 2% of duration and keeps its count and the
-- smallest and largest duration in it.
CREATE TABLE kpi_histogram (
    key       VARCHAR NOT NULL,
    week      DATE NOT NULL,
    dimension VARCHAR NOT NULL,
    segment   VARCHAR NOT NULL,
    bucket    INTEGER NOT NULL,
    n         BIGINT NOT NULL,
    lo        DOUBLE NOT NULL,
    hi        DOUBLE NOT NULL
);
