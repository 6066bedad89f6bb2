"""Large hypergraph files: reading an edge list of 20,000 hyperedges and building a dataset from it.

    python -m benchmarks.large_file [--toy] [--out DIR]

The file holds 20,000 hyperedges of 2 to 5 vertices drawn from ids below 100,000 (seeded), the input
that made ``odin data build`` run for over five minutes before issue 23. Measured: hyperedges read per
second (``read_edge_list``, median of 3), and the whole build of 60 questions over every task and two
encodings from that one hypergraph (one process).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from benchmarks.common import Timer, finish, median, parser, table

SIZES = {"full": {"hyperedges": 20_000, "repeats": 3}, "toy": {"hyperedges": 2_000, "repeats": 1}}
#: the build of the whole file must take less than this (it was over 300 s)
TARGET_BUILD_SECONDS = 30.0


def write_edge_list(path: Path, hyperedges: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    lines = (" ".join(str(rng.randrange(100_000)) for _ in range(rng.randint(2, 5))) for _ in range(hyperedges))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(toy: bool) -> dict:
    from odin_core.data.build import build_dataset
    from odin_core.recipe import load_recipe
    from odin_hypernetx.files import read_edge_list

    size = SIZES["toy" if toy else "full"]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_edge_list(folder / "edges.txt", size["hyperedges"])
        reads = []
        for _ in range(size["repeats"]):
            with Timer() as timer:
                graph = read_edge_list(folder / "edges.txt")
            reads.append(timer.seconds)
        (folder / "big.toml").write_text(
            'name = "big"\n[data]\ntasks = ["all"]\nencodings = ["hypernetx.n_set", "hypernetx.n_pair"]\n'
            '[data.num_examples]\ntrain = 50\nvalidation = 5\ntest = 5\n'
            '[[data.sources]]\nname = "hypernetx.edgelist"\npath = "edges.txt"\n', encoding="utf-8")
        cpu = time.process_time()
        with Timer() as timer:
            _, report = build_dataset(load_recipe(folder / "big.toml", require_model=False))
        build_cpu = time.process_time() - cpu
    read_seconds = median(reads)
    return {"hyperedges": size["hyperedges"], "vertices": graph.num_vertices, "read_seconds": read_seconds,
            "hyperedges_read_per_second": size["hyperedges"] / read_seconds, "build_seconds": timer.seconds,
            "build_cpu_seconds": build_cpu, "build_report_seconds": report["seconds"],
            "dropped": {reason: item["count"] for reason, item in report["dropped"].items()},
            "target_build_seconds": TARGET_BUILD_SECONDS, "meets_target": timer.seconds < TARGET_BUILD_SECONDS}


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    result = run(args.toy)
    text = table(["measure", "value"], [
        ["hyperedges (vertices)", f"{result['hyperedges']:,} ({result['vertices']:,})"],
        ["read: hyperedges per second", f"{result['hyperedges_read_per_second']:,.0f}"],
        ["read: seconds (median)", f"{result['read_seconds']:.3f}"],
        ["build from the file: seconds (CPU seconds)", f"{result['build_seconds']:.1f} ({result['build_cpu_seconds']:.1f})"],
        [f"build under {TARGET_BUILD_SECONDS:.0f} s", "met" if result["meets_target"] else "MISSED"],
    ])
    return finish("large_file", result, args, text)


if __name__ == "__main__":
    main()
