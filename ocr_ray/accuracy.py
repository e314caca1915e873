"""Character error rate, as used by the tests, the benchmark and users with ground truth."""

from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Collapse every run of white space (including form feeds) to one space."""
    return _SPACE.sub(" ", text).strip()


def cer(hypothesis: str, reference: str) -> float:
    """Levenshtein distance over the reference length, after white-space normalisation."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return Levenshtein.distance(hyp, ref) / len(ref)
