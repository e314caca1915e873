"""The input side: walking the inputs (``scan``), opening and probing documents
(``documents``), keeping every read inside the input root (``confine``), and the
per-page stages free of Ray (``pipeline``: render, read, turn, level)."""
