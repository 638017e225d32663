"""The example notebooks run headlessly on the hlab kernel (nbclient) and
their plots come out as SVG."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import KERNEL

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_shows_svg(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    nbformat.write(nb, tmp_path / path.name)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert svgs, f"{path.name}: no image/svg+xml output"
    assert all("<svg" in o["data"]["image/svg+xml"] for o in svgs)


def test_there_is_a_notebook():
    assert NOTEBOOKS, "examples/*.ipynb: none found"
