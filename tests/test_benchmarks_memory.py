"""The memory-growth benchmark at toy size: both engines train the quickstart recipe a few steps in their own
processes, and the JSON it writes agrees with its own samples and table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_memory_growth_toy(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.memory_growth", "--toy", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "memory_growth.toy.json").read_text())
    assert result["benchmark"] == "memory_growth" and result["toy"] is True
    assert result["machine"] and result["date"]
    steps, reference = result["steps"], result["reference_step"]
    assert 0 < reference < steps
    assert [e["engine"] for e in result["engines"]] == ["unsloth", "transformers"]
    for engine in result["engines"]:
        samples = engine["samples"]
        assert [s["step"] for s in samples] == list(range(1, steps + 1))  # one sample after every step
        peaks = [s["peak_mb"] for s in samples]
        assert peaks == sorted(peaks), "a peak never goes down"
        assert all(100 < s["rss_mb"] <= s["peak_mb"] + 1 for s in samples)  # current RSS within the peak
        at = {s["step"]: s for s in samples}
        assert engine["peak_mb_at_reference"] == at[reference]["peak_mb"]
        assert engine["peak_mb_at_end"] == at[steps]["peak_mb"]
        growth = 100 * (at[steps]["peak_mb"] - at[reference]["peak_mb"]) / at[reference]["peak_mb"]
        assert engine["peak_growth_pct"] == pytest.approx(growth, abs=0.01)
        assert engine["within_target"] == (growth < result["target_growth_pct"])
        assert engine["seconds"] > 0 and engine["tokens_per_second"] > 0
        assert f"{engine['peak_growth_pct']:+.1f}%" in done.stdout  # the printed table shows the same figure
