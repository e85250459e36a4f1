"""Names of the working columns staging adds to a file's rows; none can clash with a canonical column.

Grain: ``KEY`` and ``ORDER`` place each accepted source row under the key it feeds, ``RAW``
fingerprints the row, ``REASON``/``REASON_COLUMN`` say why a row is rejected, and ``LINES``
lists the lines of a key whose rows conflict.
"""

KEY = "__key"
ORDER = "__order"
RAW = "__raw"
LINES = "__lines"
REASON = "__reason"
REASON_COLUMN = "__reason_column"
