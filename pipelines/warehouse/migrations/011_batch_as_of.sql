-- The moment each batch's export describes (issue 19): the latest event in it (created, updated,
-- answered, resolved, closed or responded), or the --as-of the load was given. Grain: one value per
-- batch. The warehouse's "now" is the latest of its loaded batches, never the wall clock, so
-- a history that ended weeks ago is judged where it ends. Null for batches loaded before this column.
ALTER TABLE batches ADD COLUMN as_of TIMESTAMPTZ;
