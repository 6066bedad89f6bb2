"""notebooks/quickstart.ipynb runs top to bottom in a real Jupyter kernel (this interpreter, this checkout),
and what it prints agrees with the files its run wrote."""

import json
import os
import re
import sys

import pytest

from conftest import REPO

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def text_of(cell) -> str:
    return "".join(output.get("text", "") if output.get("output_type") == "stream"
                   else "".join(output.get("data", {}).get("text/plain", ""))
                   for output in cell.get("outputs", []))


def test_notebook_is_committed_without_outputs():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_runs_and_agrees_with_its_run(tmp_path):
    import nbformat
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from nbclient import NotebookClient

    # a kernel on this interpreter, importing this checkout (PYTHONPATH as the tests have it)
    spec_dir = tmp_path / "kernels" / "odin-test"
    spec_dir.mkdir(parents=True)
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")])}
    spec = KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                      display_name="odin test", language="python", env=env)
    (spec_dir / "kernel.json").write_text(json.dumps(spec.to_dict()))
    manager = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path / "notebooks"
    workdir.mkdir()
    (workdir / ".." / "recipes").resolve().symlink_to(REPO / "recipes")  # the notebook finds ../recipes
    kernel = AsyncKernelManager(kernel_name="odin-test", kernel_spec_manager=manager)
    client = NotebookClient(notebook, km=kernel, timeout=500, resources={"metadata": {"path": str(workdir)}})
    client.execute()

    outputs = "\n".join(text_of(cell) for cell in notebook.cells if cell.cell_type == "code")
    train_rows = int(re.search(r"^train rows: (\d+)$", outputs, re.M).group(1))
    run_dir = re.search(r"^run directory: (.+)$", outputs, re.M).group(1).strip()
    shown_accuracy = float(re.search(r"^trained accuracy: ([\d.]+) on (\d+) test rows$", outputs, re.M).group(1))
    steps = int(re.search(r"^training steps: (\d+)$", outputs, re.M).group(1))

    from pathlib import Path

    run = Path(run_dir)
    assert run.parent == workdir / "notebook-runs"
    metrics = json.loads((run / "metrics.json").read_text())
    data_report = json.loads((run / "data_report.json").read_text())
    assert data_report["examples"]["train"] == train_rows > 0  # the run used the dataset the notebook looked at
    assert "notebook.lines" in data_report["encodings"]
    predictions = [json.loads(line) for line in (run / "predictions-trained.jsonl").read_text().splitlines()]
    assert shown_accuracy == pytest.approx(round(sum(p["correct"] for p in predictions) / len(predictions), 4),
                                           abs=1e-4)
    assert shown_accuracy == pytest.approx(metrics["trained"]["metrics"]["metrics.task_accuracy"]["overall"]["micro"],
                                           abs=1e-4)
    assert steps == metrics["training"]["steps"] == 6
    assert any(p["encoding"] == "notebook.lines" for p in predictions)
    shown_plots = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(shown_plots) == len(list(run.glob("*.png"))) >= 1
