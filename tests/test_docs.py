"""The documentation's examples work as written: the plugin guide's complete plugin installs and runs."""

import json
import re
import subprocess
import sys

import pytest

from conftest import REPO, run_odin

pytestmark = pytest.mark.timeout(600)

FILE_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```', re.S | re.M)


def doc_files(page: str) -> dict[str, str]:
    """{path: text} of the fenced blocks of a docs page that carry a ``title="path"``."""
    return dict(FILE_BLOCK.findall((REPO / "docs" / page).read_text(encoding="utf-8")))


@pytest.mark.slow
def test_plugin_guide_example_installs_lists_and_runs(tmp_path):
    files = doc_files("plugins.md")
    assert set(files) == {"pyproject.toml", "odin_starplugin/__init__.py", "stars.toml"}
    project = tmp_path / "starplugin"
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(project)], check=True)
    env = {"PYTHONPATH": str(site)}

    listing = json.loads(run_odin("plugins", "--json", env_extra=env).stdout)
    (plugin,) = [p for p in listing["plugins"] if p["name"] == "starplugin"]
    assert plugin["distribution"] == "odin-starplugin" and listing["broken"] == [] == listing["clashes"]
    assert plugin["components"] == {"source": ["starplugin.stars"], "encoder": ["starplugin.json"],
                                    "task": ["starplugin.largest_hyperedge"], "evaluator": ["starplugin.answer_length"]}
    assert {"odin_run_end", "register_commands"} <= set(plugin["hooks"])

    stars = run_odin("stars", "--count", "2", env_extra=env)
    assert stars.returncode == 0 and stars.stdout.count("is a hypergraph whose hyperedges are: [[") == 2

    out = run_odin("run", "stars.toml", "--output-dir", "runs", env_extra=env, cwd=project)
    assert out.returncode == 0, out.stderr
    (run,) = (project / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    tasks = set(metrics["trained"]["metrics"]["metrics.task_accuracy"]["per_task"])
    assert tasks == {"starplugin.largest_hyperedge", "hypernetx.hyperedge_count"}
    assert metrics["trained"]["metrics"]["starplugin.answer_length"]["rows"] == metrics["trained"]["num_examples"]
    assert "## Answer length" in (run / "report.md").read_text()
    assert "starplugin: run completed after 2 steps" in (run / "odin.log").read_text()
    prompts = [json.loads(line)["prompt"] for line in (run / "predictions-trained.jsonl").read_text().splitlines()]
    assert any("whose hyperedges are: [\n[\n" in p for p in prompts)  # indent = 0 from the recipe: one item a line
