"""Names of the working columns staging adds to a file's rows; none can clash with a canonical column.

Grain: ``KEY`` and ``ORDER`` place each accepted source row under the key it feeds, ``RAW``
fingerprints the row, ``REASON``/``REASON_COLUMN`` say why a row is rejected, and ``LINES``
lists the lines of a key whose rows conflict. ``EXTRA`` holds a row's unmapped source columns
as text and ``CONTENT`` all of its values, from which a row without an id gets its key (``DERIVED``).
"""

KEY = "__key"
ORDER = "__order"
RAW = "__raw"
LINES = "__lines"
REASON = "__reason"
REASON_COLUMN = "__reason_column"
EXTRA = "__extra"
CONTENT = "__content"
DERIVED = "__derived_key"
