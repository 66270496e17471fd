"""docs/tutorial.ipynb runs: its code cells are executed in order in a fresh process, the way a
kernel would (no Jupyter kernel is needed: nbclient is not a dependency), from an empty working
directory. It must leave the caller's matplotlib backend alone and draw its figure from the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "tutorial.ipynb"

DRIVER = """
import json, sys
import matplotlib
matplotlib.use("svg")  # the caller's choice, which the notebook must keep
namespace = {"__name__": "__main__"}
for cell in json.load(open(sys.argv[1], encoding="utf-8"))["cells"]:
    if cell["cell_type"] == "code":
        exec(compile("".join(cell["source"]), "tutorial.ipynb", "exec"), namespace)
fig = namespace["fig"]
lines = [line for ax in fig.axes for line in ax.get_lines()]
print(json.dumps({"backend": matplotlib.get_backend(), "axes": len(fig.axes), "lines": len(lines),
                  "points": min(len(line.get_xdata()) for line in lines),
                  "status": namespace["run"].summary["status"], "steps": len(namespace["ts"])}))
"""


def test_notebook_is_clean_json():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 4
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)  # committed without outputs


def test_notebook_runs_and_keeps_the_matplotlib_backend(tmp_path):
    result = subprocess.run([sys.executable, "-c", DRIVER, str(NOTEBOOK)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["backend"] == "svg"
    assert facts["status"] == "completed" and facts["steps"] > 20
    assert facts["axes"] == 2 and facts["lines"] == 3 and facts["points"] > 10
    assert (tmp_path / "results" / "nvp-sphere-1d" / "timeseries.csv").is_file()
    assert (tmp_path / "my-cases" / "nvp.yaml").is_file()
