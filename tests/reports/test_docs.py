"""Generated documentation stays in step with the catalog."""

from metrics.reports.docs import DOC_PATH, render


def test_metrics_doc_is_current():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), "run: .venv/bin/python -m metrics.reports.docs"
