"""CSAT Radar metrics: every number the dashboard, the command line and the exports show."""
