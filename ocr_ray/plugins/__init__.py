"""The public interface of plugins: engines and output formats.

Everything a plugin may rely on is here; the rest of ocr_ray is private. A plugin is
a class registered as an entry point, in the group ``ocr_ray.engines`` (a
``Provider``) or ``ocr_ray.formats`` (a ``Format``); ocr_ray's own are registered the
same way. Adding an engine or a format is one module and one entry-point line.
"""

from ocr_ray.plugins.engine import Engine, PageText, Provider, Word
from ocr_ray.plugins.format import (
    BundleFormat,
    Checked,
    DocumentFormat,
    DocumentPage,
    Format,
    Kind,
    RecordFormat,
    Source,
)
from ocr_ray.plugins.registry import PluginBrokenError

__all__ = [
    "BundleFormat",
    "Checked",
    "DocumentFormat",
    "DocumentPage",
    "Engine",
    "Format",
    "Kind",
    "PageText",
    "PluginBrokenError",
    "Provider",
    "RecordFormat",
    "Source",
    "Word",
]
