"""A job's life on Ray: the ``coordinator`` with its ``intake`` (probes), ``dispatch``
(packed OCR tasks) and ``recording`` (one record per file), the ``tasks`` that run on the
workers, the documents' ``outputs``, the ``export``, the ``lease`` and ``progress``, and
the public handle (``handle``: ``submit()``, ``Job``)."""
