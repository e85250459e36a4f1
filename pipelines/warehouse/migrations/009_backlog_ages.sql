-- Ages of the tickets open at the end of each local day (metrics/cube.py), so backlog ages at
-- period ends are read without joining periods to every ticket. Grain: one row per day,
-- dimension, segment and 2%-wide age bucket, with its count and smallest and largest age in minutes.
CREATE TABLE kpi_backlog_ages (
    day       DATE NOT NULL,
    dimension VARCHAR NOT NULL,
    segment   VARCHAR NOT NULL,
    bucket    INTEGER NOT NULL,
    n         BIGINT NOT NULL,
    lo        DOUBLE NOT NULL,
    hi        DOUBLE NOT NULL
);
