"""PDF/A for archives: the searchable PDF made PDF/A-2b (``pdfa``) or PDF/A-3b
(``pdfa-3``) by pikepdf's PDF/A machinery, and validated as it is written.

pikepdf adds the output intent (sRGB) and the XMP metadata, repairs what it can, writes
the file and validates the bytes written with its allowlist validator. A file it cannot
make valid (an input PDF with unembedded fonts, transparency it cannot check ...) keeps
its plain searchable PDF, and its record says why, with the validator's findings.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import ClassVar

from ocr_ray.formats.pdf import PdfFormat, merged_pdf
from ocr_ray.plugins import Checked

# How many of the validator's findings a record keeps (the first ones; the count is said).
FINDINGS_KEPT = 5


class PdfaFormat(PdfFormat):
    """A searchable PDF/A-2b per input."""

    name = "pdfa"
    label = "searchable PDF/A-2b"
    flavour: ClassVar[str] = "2b"

    def assemble(self, parts: Sequence[bytes], *, name: str, system: str) -> Checked:
        return archival(merged_pdf(parts), self.flavour)


class Pdfa3Format(PdfaFormat):
    """A searchable PDF/A-3b per input."""

    name = "pdfa-3"
    label = "searchable PDF/A-3b"
    flavour = "3b"


def archival(plain: bytes, flavour: str) -> Checked:
    """``plain`` as PDF/A of ``flavour``, validated; itself, with the findings, if it
    cannot be made valid."""
    import pikepdf
    import pikepdf.pdfa

    standard = f"PDF/A-{flavour}"
    buffer = io.BytesIO()
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        try:
            pikepdf.pdfa.save(pdf, buffer, flavour)
        except pikepdf.pdfa.PdfaError as exc:
            findings = [str(f) for f in exc.report.findings]
            if len(findings) > FINDINGS_KEPT:
                extra = len(findings) - FINDINGS_KEPT
                findings = [*findings[:FINDINGS_KEPT], f"and {extra} more"]
            return Checked(plain, standard, passed=False, findings=tuple(findings))
    return Checked(buffer.getvalue(), standard, passed=True)
