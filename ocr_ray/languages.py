"""Language names: ISO 639-1 codes (``en``) accepted wherever an engine's own name is."""

from __future__ import annotations

import functools

# Engines name Chinese by script, not by the ISO 639-3 macrolanguage (zho).
_SCRIPT_DEFAULTS = {"zh": "chi_sim"}


@functools.lru_cache(maxsize=256)
def engine_name(code: str) -> str:
    """The three-letter (ISO 639-2/T, as Tesseract names models) form of a two-letter code.

    Anything that is not a known two-letter code is returned unchanged, so engine names
    such as ``eng`` or ``chi_sim`` pass through and unknown codes fail validation later.
    """
    if len(code) != 2 or not code.isalpha():
        return code
    lowered = code.lower()
    if lowered in _SCRIPT_DEFAULTS:
        return _SCRIPT_DEFAULTS[lowered]
    import pycountry

    language = pycountry.languages.get(alpha_2=lowered)
    return str(language.alpha_3) if language is not None else code


def engine_names(codes: list[str]) -> list[str]:
    """Each code in its engine form, in order, without repeats (``en+eng`` is one model)."""
    return list(dict.fromkeys(engine_name(code) for code in codes))
