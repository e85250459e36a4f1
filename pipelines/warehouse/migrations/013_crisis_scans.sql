-- The crisis radar's scans (issue 19): which days of the data each recorded scan judged, so that a
-- load can tell whether the crisis log has ever looked at the history it brings (a first load of
-- years is then scanned whole, once). Grain: one row per scan recorded in the crisis log.
CREATE TABLE crisis_scans (
    grain        VARCHAR NOT NULL,      -- day or week
    window_from  DATE NOT NULL,         -- the first day whose crises the scan reported: its since, else the data's first day
    window_to    DATE NOT NULL,         -- the day of its as-of: the data's end
    as_of        TIMESTAMPTZ NOT NULL,  -- the moment the scan was "now"
    actor        VARCHAR NOT NULL,
    crises_found INTEGER NOT NULL,
    scanned_at   TIMESTAMPTZ NOT NULL   -- wall clock, for the record only
);
