"""Real pages made many: material for tests and benchmarks alike."""

from __future__ import annotations

from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "examples" / "samples" / "pages"


def distinct_pages(folder: Path, count: int, page: str = "c015") -> list[str]:
    """Write ``count`` copies of a real page, each with a wider white border, so every
    file has distinct content (dedupe shortcuts none) but the same ground truth."""
    from PIL import Image, ImageOps

    folder.mkdir(parents=True, exist_ok=True)
    base = Image.open(PAGES / f"{page}.tif").convert("L")
    names = [f"p{index:02d}.png" for index in range(count)]
    for index, name in enumerate(names):
        ImageOps.expand(base, border=index + 1, fill=255).save(folder / name)
    return names
