-- The daily KPI cube (metrics/cube.py): additive KPIs counted per local day and segment.
-- Grain: kpi_cube = one row per metric, day, dimension and segment; kpi_cube_meta = one row
-- saying which conventions and which data (batches) the cube was built for.
CREATE TABLE kpi_cube (
    metric      VARCHAR NOT NULL,
    day         DATE NOT NULL,
    dimension   VARCHAR NOT NULL,
    segment     VARCHAR NOT NULL,
    numerator   DOUBLE,
    denominator DOUBLE,
    value       DOUBLE,
    promoters   DOUBLE,
    detractors  DOUBLE,
    n           BIGINT
);
CREATE TABLE kpi_cube_meta (
    conventions_key VARCHAR NOT NULL,
    data_version    VARCHAR NOT NULL,
    built_as_of     TIMESTAMPTZ NOT NULL,
    built_at        TIMESTAMPTZ NOT NULL,
    metrics         VARCHAR NOT NULL
);
