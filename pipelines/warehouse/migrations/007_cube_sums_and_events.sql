-- The cube also answers means (sums and sums of squares add up over days) and backlog counts
-- (tickets opened and closed per day: the backlog at a day's end is the running difference).
ALTER TABLE kpi_cube ADD COLUMN value_sum DOUBLE;
ALTER TABLE kpi_cube ADD COLUMN value_sum_squares DOUBLE;
ALTER TABLE kpi_cube ADD COLUMN opened BIGINT;
ALTER TABLE kpi_cube ADD COLUMN closed BIGINT;
