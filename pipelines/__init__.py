"""CSAT Radar ingestion: exports from helpdesk and survey tools into the DuckDB warehouse."""
