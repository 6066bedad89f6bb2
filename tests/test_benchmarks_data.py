"""The dataset-build, evaluation and CLI start-up benchmarks, each run at toy size into a temporary folder."""

import json

import pytest

from benchmarks import cli_startup, dataset_build, evaluation, naive_hypernetx


def _result(folder, name: str) -> dict:
    data = json.loads((folder / f"{name}.toy.json").read_text(encoding="utf-8"))
    assert data["benchmark"] == name and data["toy"] is True
    assert data["date"] and data["machine"]["cpu"]["threads"] >= 1
    return data


@pytest.mark.timeout(240)
def test_dataset_build_toy(tmp_path):
    dataset_build.main(["--toy", "--out", str(tmp_path)])
    data = _result(tmp_path, "dataset_build")
    assert set(data["tasks_covered"]) | set(data["tasks_not_covered"]) == set(naive_hypernetx.COVERED) | set(
        naive_hypernetx.NOT_COVERED)
    assert len(data["tasks_covered"]) == 14
    # hypernetx answers every checked row of Odin's as Odin does, on every covered task
    agree = data["agreement"]
    assert agree["checked"] == dataset_build.SIZES["toy"]["checked"]
    assert agree["agreed"] == agree["checked"] and agree["mismatched_ids"] == []
    assert sum(t["checked"] for t in agree["by_task"].values()) == agree["checked"]
    one, two = data["odin"]["num_proc_1"], data["odin"]["num_proc_2"]
    assert one["num_proc"] == 1 and two["num_proc"] == 2
    assert data["odin"]["num_proc_rows_identical"] is True
    assert one["examples"] > 0 and data["naive"]["examples"] > 0
    # the ratio is the two builders' own speeds divided
    assert data["ratio_per_core"] == pytest.approx(
        one["examples_per_cpu_second"] / data["naive"]["examples_per_cpu_second"])
    assert data["ratio_per_core"] > 1  # building a hypernetx.Hypergraph per example is far slower


@pytest.mark.timeout(240)
def test_naive_answers_match_a_hand_worked_hypergraph():
    # G: e0 = (v0, v1, v2), e1 = (v2, v3), e2 = (v5, v6); v4 in no hyperedge
    g = naive_hypernetx.Graph([f"v{i}" for i in range(7)], {"e0": ["v0", "v1", "v2"], "e1": ["v2", "v3"],
                                                          "e2": ["v5", "v6"]})
    assert naive_hypernetx.vertex_count(g) == 7 and naive_hypernetx.hyperedge_count(g) == 3
    assert naive_hypernetx.vertex_degree(g, "v2") == 2 and naive_hypernetx.vertex_degree(g, "v4") == 0
    assert naive_hypernetx.connected_vertices(g, "v2") == ["v0", "v1", "v3"]
    assert naive_hypernetx.disconnected_vertices(g, "v2") == ["v4", "v5", "v6"]
    assert naive_hypernetx.shortest_path(g, "v0", "v3") == 2 and naive_hypernetx.shortest_path(g, "v0", "v5") is None
    assert naive_hypernetx.reachability(g, "v1", "v3") and not naive_hypernetx.reachability(g, "v1", "v6")
    assert naive_hypernetx.in_one_hyperedge(g, ["v0", "v2"]) and not naive_hypernetx.in_one_hyperedge(g, ["v0", "v3"])
    assert not naive_hypernetx.hyperedge_in_hyperedge(g)
    assert naive_hypernetx.shared_vertices(g, "e0", "e1") == ["v2"]
    relabelled = naive_hypernetx.Graph(g.names, {"e0": ["v6", "v5", "v4"], "e1": ["v4", "v3"], "e2": ["v1", "v0"]})
    other = naive_hypernetx.Graph(g.names, {"e0": ["v0", "v1", "v2"], "e1": ["v3", "v4"], "e2": ["v5", "v6"]})
    assert naive_hypernetx.isomorphism(g, relabelled) and not naive_hypernetx.isomorphism(g, other)


@pytest.mark.timeout(300)
def test_cli_startup_toy(tmp_path):
    cli_startup.main(["--toy", "--out", str(tmp_path)])
    data = _result(tmp_path, "cli_startup")
    assert set(data["commands"]) == set(cli_startup.COMMANDS)
    torch = data["commands"][cli_startup.REFERENCE]["median_seconds"]
    for name, record in data["commands"].items():
        assert len(record["seconds"]) == data["runs"] and record["median_seconds"] > 0
        if name != cli_startup.REFERENCE:
            assert record["ratio_to_import_torch"] == pytest.approx(record["median_seconds"] / torch)
            assert record["meets_target"] == (record["median_seconds"] < cli_startup.TARGET_SECONDS)
            assert record["meets_target"] or record["slowest_imports"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_evaluation_toy(tmp_path):
    from odin_core.runtime.machine import cpu_bf16

    evaluation.main(["--toy", "--out", str(tmp_path)])
    data = _result(tmp_path, "evaluation")
    sizes = evaluation.SIZES["toy"]
    assert set(data["models"]) == {"scratch", "smollm2-135m-instruct"}
    for name, model in data["models"].items():
        rows = sizes["scratch"] if name == "scratch" else sizes["smollm2"]
        runs = [model["batched_fp32"], model["single_fp32"]] + ([model["batched_bf16"]] if cpu_bf16() else [])
        for run in runs:
            assert run["rows"] == rows == len(run["answers"])
            assert 0 <= run["answer_seconds"] <= run["end_seconds"] <= run["seconds"]
            assert 0 <= run["after_answer_share"] <= 1 and run["generated_tokens"] > 0
        assert model["single_fp32"]["batch_size"] == 1
        same = sum(a == b for a, b in zip(model["batched_fp32"]["answers"], model["single_fp32"]["answers"]))
        assert model["batched_vs_single_identical"] == pytest.approx(same / rows)
        assert ("batched_bf16" in model) == cpu_bf16() and ("bf16_skipped" in model) != cpu_bf16()
        # generation stops at the answer's bracket: one row at a time, no token follows it
        assert model["single_fp32"]["answer_tokens"] == 0


@pytest.mark.timeout(120)
def test_large_file_toy(tmp_path):
    from benchmarks import large_file

    large_file.main(["--toy", "--out", str(tmp_path)])
    data = _result(tmp_path, "large_file")
    assert data["hyperedges"] == large_file.SIZES["toy"]["hyperedges"] and data["vertices"] > 1000
    assert data["hyperedges_read_per_second"] == pytest.approx(data["hyperedges"] / data["read_seconds"])
    assert data["meets_target"] == (data["build_seconds"] < large_file.TARGET_BUILD_SECONDS)
