"""The quickstart notebook runs top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import ast

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def _html(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.get("outputs", []))


def test_quickstart_notebook_executes() -> None:
    path = REPO / "examples" / "quickstart.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert '"succeeded": 9' in _text(code[1]) and '"failed": 0' in _text(code[1])
    rates = ast.literal_eval(_text(code[3]))
    assert len(rates) == 9 and max(v for k, v in rates.items() if k != "eurotext") <= 0.06
    assert "results.zip" in _text(code[4]) and "summary" in _text(code[4])
    assert "status=<JobStatus.completed" in _text(code[5])
    # The bar is Jupyter's widget (ipywidgets is in the notebook extra), not text.
    assert any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in code[1].outputs
    )
    assert "IProgress not found" not in _text(code[1])
    job_view = _html(code[6])
    assert (
        "<b>ocr_ray job " in job_view and "<td style='text-align:left'>completed</td>" in job_view
    )
    assert "12 of 12" in job_view  # pages
    page = _html(code[7])  # one page beside its text
    assert page.count("data:image/png;base64,") == 1 and "quick brown dog" in page
