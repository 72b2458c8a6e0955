"""The first code cell of every notebook: on Google Colab it installs the course from its
repository and fetches data/; anywhere else it does nothing. `python -m course_lib.build`
writes CELL into every notebook of solutions/ (and so notebooks/), before the setup cell.

Instructors: set REPO_URL to the course's git repository, then run `python -m course_lib.build`.
"""
from __future__ import annotations

REPO_URL = "https://github.com/YOUR-ORG/diffusion-course"  # the one place the URL lives
TAG = "colab"  # the cell's tag; the class grader never runs it (it runs only "setup" cells)

CELL = f"""\
# On Google Colab only (this cell does nothing anywhere else): install the course from its
# repository and fetch its data/, once per Colab session.
import os
import sys

if "google.colab" in sys.modules:
    import subprocess

    COURSE_REPO = "{REPO_URL}"
    COURSE_DIR = "/content/diffusion-course"
    if not os.path.isdir(os.path.join(COURSE_DIR, "data")):
        print(f"Colab: installing the course and fetching its data/ from {{COURSE_REPO}}")
        subprocess.run(["git", "clone", "-q", "--depth", "1", COURSE_REPO, COURSE_DIR],
                       check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE_DIR], check=True)
    os.environ["COURSE_DATA"] = os.path.join(COURSE_DIR, "data")  # where course_lib looks"""


def sync_cell(nb) -> bool:
    """Make nb's Colab cell (a code cell tagged TAG, before the first other code cell) read
    CELL, adding it if missing. Returns whether nb changed."""
    import nbformat

    cells = [c for c in nb.cells if TAG in c.metadata.get("tags", [])]
    if cells:
        if cells[0].source == CELL:
            return False
        cells[0].source = CELL
        return True
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    cell = nbformat.v4.new_code_cell(CELL, metadata={"tags": [TAG]})
    cell.id = TAG
    nb.cells.insert(first, cell)
    return True
