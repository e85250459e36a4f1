-- Column mappings a user confirmed and saved under a name (issue 19): on the Upload page's mapper
-- or with `csat-radar ingest --save-profile NAME`. Grain: one row per saved profile (its name).
-- Kept in the warehouse so a profile travels with the data (and its snapshots): the next file of
-- the same kind whose headers fold to the same set (header_key of each) is read with it unasked.
-- (Numbered after 013_crisis_scans, which came from a branch of the same issue.)
CREATE TABLE saved_profiles (
    name        VARCHAR PRIMARY KEY,      -- the user's name for it; never a built-in profile's
    kind        VARCHAR NOT NULL,         -- tickets, surveys, complaints or orders
    header_set  VARCHAR NOT NULL,         -- the file's folded headers, sorted, as a JSON list
    columns     JSON NOT NULL,            -- {"ticket_id": ["Case Ref"], "created_at": ["Date", "Time"]}
    based_on    VARCHAR NOT NULL,         -- the built-in profile whose options (statuses, transforms) it keeps
    source_tz   VARCHAR,                  -- the zone of the file's naive timestamps, when one was chosen
    scale       VARCHAR,                  -- the scale of survey answers that name none, when one was chosen
    saved_at    TIMESTAMPTZ NOT NULL,
    saved_by    VARCHAR NOT NULL
);
