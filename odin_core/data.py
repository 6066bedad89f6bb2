"""Datasets: from a recipe's ``[data]`` section to a ``datasets.DatasetDict``, in explicit steps.

1. sources -> hypergraphs           (deterministic from ``recipe.seed``)
2. hypergraphs -> splits            (whole hypergraphs; relabelled copies stay together)
3. questions per split              (tasks x encodings, yes/no balanced, mismatches skipped)
4. render prompt and completion     (prompts over the token budget are dropped and reported)
5. DatasetDict train/validation/test, cached under ``data.cache_dir`` by a fingerprint

Examples are generated from per-example seeds, so ``num_proc`` worker processes
produce exactly the bytes one process does. ``odin data`` (build, show, stats,
freeze) is the command-line face of this module; heavy libraries (``datasets``)
are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from odin_core.answers import format_answer
from odin_core.errors import DataError, RecipeError
from odin_core.rundir import atomic_write_dir

#: bump when the same recipe would build different examples
BUILDER_VERSION = "1"
SPLITS = ("train", "validation", "test")
COLUMNS = ("id", "prompt", "completion", "task", "family", "encoding", "answer_kind", "answer", "graph_id",
           "generator", "meta")
#: where frozen evaluation sets live (``data/<name>/``)
FROZEN_DIR = Path(__file__).resolve().parent.parent / "data"
FROZEN_FILE = "test.jsonl"
CHECKSUM_FILE = "SHA256SUMS"
#: tries (each on a freshly drawn hypergraph) before an example counts as "no question"
MAX_TRIES = 40

# byte -> 1 when it belongs to the class (non-ASCII UTF-8 bytes count as letters)
_LETTER = bytes(1 if (b < 128 and chr(b).isalpha()) or b >= 128 else 0 for b in range(256))
_DIGIT = bytes(1 if 48 <= b <= 57 else 0 for b in range(256))
_PUNCT = bytes(1 if b < 128 and not chr(b).isalnum() and not chr(b).isspace() else 0 for b in range(256))


def _runs(mask: bytes, width: int) -> tuple[int, int]:
    """(runs of 1s, positions starting a window of width + 1 ones) in a 0/1 byte mask, with big-int bit tricks."""
    bits = int.from_bytes(mask, "big")
    window = bits
    for k in range(1, width + 1):
        window &= bits >> (8 * k)
    return bits.bit_count() - (bits & (bits >> 8)).bit_count(), window.bit_count()


def approx_tokens(text: str) -> int:
    """Approximate token count, used before the model's tokenizer exists.

    It mimics the pre-tokenisation of Llama/Phi/Mistral-style BPE: every run of
    letters is a token (plus one per further 5 letters), every run of up to 3
    digits is a token, every punctuation mark is a token, whitespace is free.
    So ``v12,`` is 3 tokens and a 0/1 matrix row ``1 0 1`` is 3. Real BPE merges
    common words into one token, so on Odin's prompts this errs on the high side.
    Computed with byte translation and integer bit counts: about 25 µs for a 2 KB prompt.
    """
    raw = text.encode("utf-8")
    letter_runs, long_letters = _runs(raw.translate(_LETTER), 5)
    digit_runs, long_digits = _runs(raw.translate(_DIGIT), 3)
    return letter_runs + (long_letters + 4) // 5 + digit_runs + (long_digits + 2) // 3 + raw.translate(_PUNCT).count(1)


def derive_seed(*parts) -> int:
    """A 63-bit seed from printable parts, stable across processes and Python runs."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


# --- recipes for data commands ------------------------------------------------


class DataRecipe(BaseModel):
    """A partial recipe holding only the data part (``recipes/base/*.toml``, frozen-set recipes)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("data", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    seed: int = 42
    data: Any  # a DataSection, validated in load_data_recipe
    _path: Path | None = PrivateAttr(default=None)

    model: Any = None  # no model section: examples are never formatted as chat messages

    @property
    def path(self):
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    def _selectors(self):
        for i, entry in enumerate(self.data.sources):
            yield f"data.sources.{i}", entry


def load_data_recipe(path, overrides=None):
    """A full recipe (``odin_core.recipe.load_recipe``) or, without a ``[model]`` section, a data-only one."""
    from odin_core import recipe as recipes

    path = Path(path)
    raw = recipes.apply_overrides(recipes.load_raw(path), overrides)
    if "model" in raw:
        return recipes.validate(raw, file=path)
    raw.setdefault("name", path.stem.replace("_", "-"))
    if "data" not in raw:
        raise RecipeError("has no [data] section; expected one (or 'extends' pointing at a file with it)",
                          file=path, key="data")
    try:
        data_section = recipes.DataSection.model_validate(raw["data"])
    except ValidationError as exc:
        raise recipes._translate(exc, recipes.DataSection, path, prefix=("data",)) from None
    try:
        recipe = DataRecipe.model_validate({**raw, "data": data_section})
    except ValidationError as exc:
        raise recipes._translate(exc, DataRecipe, path) from None
    recipe._path = path
    for key, section in recipe._selectors():
        recipes._validate_component(section, key, path)
    recipes._validate_names(recipe, path)
    return recipe


def uses_chat_template(recipe) -> bool:
    """Whether examples also get a ``messages`` column: the model's chat_template, else its loader's default."""
    model = getattr(recipe, "model", None)
    if model is None:
        return False
    if model.chat_template is not None:
        return bool(model.chat_template)
    from odin_core.plugins import get_component

    loader = get_component("loader", model.loader)
    return bool(getattr(loader.factory, "chat_template", False))


def _resolved_data(recipe) -> dict:
    data = recipe.data.model_dump(mode="json")
    for i, entry in enumerate(recipe.data.sources):
        if entry.options is not None:
            data["sources"][i].update(entry.options.model_dump(mode="json"))
    return data


# --- step 1: sources -> hypergraphs --------------------------------------------


def _source_instances(recipe):
    from odin_core.plugins import get_component

    for i, entry in enumerate(recipe.data.sources):
        component = get_component("source", entry.name, file=recipe.path, key=f"data.sources.{i}.name")
        yield i, entry, component, component.create(entry.options)


def collect_hypergraphs(recipe) -> list:
    """Every source's hypergraphs, in recipe order; source ``i`` is seeded from ``(recipe.seed, i)``."""
    graphs = []
    for i, entry, _component, source in _source_instances(recipe):
        try:
            produced = list(source.hypergraphs(derive_seed(recipe.seed, "source", i), str(recipe.base_dir)))
        except DataError as exc:
            if exc.file is None:  # say which recipe entry it was
                raise DataError(exc.message, file=recipe.path,
                                key=f"data.sources.{i}" + (f".{exc.key}" if exc.key else "")) from None
            raise
        if not produced:
            raise DataError(f"source {entry.name!r} produced no hypergraph", file=recipe.path, key=f"data.sources.{i}")
        graphs.extend(produced)
    return graphs


# --- step 2: hypergraphs -> splits ----------------------------------------------


def graph_key(graph) -> str:
    """An isomorphism invariant (Weisfeiler–Lehman colours of the vertex–hyperedge incidence graph).

    Isomorphic hypergraphs (relabelled copies, reordered hyperedges) always get the
    same key, so grouping by it keeps every copy of a hypergraph in one split.
    """
    vertex_colour = [len(m) for m in graph.incidence]
    edge_colour = [len(e) for e in graph.edges]
    history: list = [graph.num_vertices, graph.num_edges]
    for _round in range(3):
        edge_sig = [(edge_colour[i], tuple(sorted(vertex_colour[v] for v in e))) for i, e in enumerate(graph.edges)]
        edge_rank = {sig: rank for rank, sig in enumerate(sorted(set(edge_sig)))}
        edge_colour = [edge_rank[s] for s in edge_sig]
        vertex_sig = [(vertex_colour[v], tuple(sorted(edge_colour[e] for e in m))) for v, m in enumerate(graph.incidence)]
        vertex_rank = {sig: rank for rank, sig in enumerate(sorted(set(vertex_sig)))}
        vertex_colour = [vertex_rank[s] for s in vertex_sig]
        # the signature tables make the per-graph ranks comparable across hypergraphs
        history.append(sorted(Counter(edge_sig).items()))
        history.append(sorted(Counter(vertex_sig).items()))
    return hashlib.sha256(repr(history).encode("utf-8")).hexdigest()[:20]


def assign_splits(graphs, fractions: dict, seed: int, exclude_keys=frozenset()) -> tuple[dict, dict]:
    """Whole groups of isomorphic hypergraphs to splits by ``fractions`` of the hypergraph count.

    Returns ``({split: [graph, ...]}, {id(graph): key})``. Groups whose key is in
    ``exclude_keys`` (a frozen test set's hypergraphs) are left out.
    """
    keys = {id(g): graph_key(g) for g in graphs}
    groups: dict[str, list] = defaultdict(list)
    for g in graphs:
        if keys[id(g)] not in exclude_keys:
            groups[keys[id(g)]].append(g)
    order = sorted(groups)
    random.Random(derive_seed(seed, "splits")).shuffle(order)
    total = sum(len(groups[k]) for k in order)
    quota = {split: fractions[split] * total for split in SPLITS}
    assigned: dict[str, list] = {split: [] for split in SPLITS}
    for key in order:
        # the split furthest below its quota (relative to its fraction) takes the next group
        open_splits = [s for s in SPLITS if fractions[s] > 0]
        split = min(open_splits, key=lambda s: (len(assigned[s]) - quota[s]) / fractions[s])
        assigned[split].extend(groups[key])
    return assigned, keys


# --- steps 3 and 4: questions, rendering, the token budget --------------------------


class _Plan:
    """What example ``i`` of a split is: which task, which encoding, which yes/no label."""

    def __init__(self, task_names, tasks, encoder_names, encoders, balance):
        self.pairs = []  # per task: the encodings that determine its answer
        self.skipped = []
        for name in task_names:
            task = tasks[name]
            usable = []
            for enc_name in encoder_names:
                if getattr(task, "needs_high_order", False) and encoders[enc_name].order == "low":
                    self.skipped.append((name, enc_name))
                else:
                    usable.append(enc_name)
            self.pairs.append((name, usable))
        self.pairs = [(name, usable) for name, usable in self.pairs if usable]
        self.balance = balance
        self.tasks = tasks

    def __call__(self, i: int):
        task_name, usable = self.pairs[i % len(self.pairs)]
        k = i // len(self.pairs)  # this task's k-th example
        encoding = usable[(k // 2) % len(usable)]  # each encoding twice in a row: once per label
        want = None
        if self.balance and self.tasks[task_name].answer_kind == "yes_no":
            want = k % 2 == 0
        return task_name, encoding, want


class _Generator:
    """Everything example generation needs; shared by worker processes through fork."""

    def __init__(self, recipe, split_graphs, keys, plan, tasks, encoders, families, chat):
        self.seed = recipe.seed
        self.split_graphs = split_graphs
        self.keys = keys
        self.plan = plan
        self.tasks = tasks
        self.encoders = encoders
        self.families = families
        self.budget = recipe.data.max_prompt_tokens
        self.chat = chat
        self._cache: dict[tuple[int, str, str], str | None] = {}

    def _encode(self, graph, encoding: str, name: str, reusable: bool) -> str | None:
        """The encoding text, or None when a cheap lower bound already exceeds the budget."""
        key = (id(graph), encoding, name)
        if reusable and key in self._cache:
            return self._cache[key]
        encoder = self.encoders[encoding]
        bound = getattr(encoder, "min_tokens", None)
        text = None if bound is not None and bound(graph) > self.budget else encoder.encode(graph, name)
        if reusable:
            self._cache[key] = text
        return text

    def example(self, split: str, i: int, base_seed: int):
        """(row, None) or (None, (reason, task, encoding))."""
        task_name, encoding, want = self.plan(i)
        graphs = self.split_graphs[split]
        task = self.tasks[task_name]
        rng = random.Random(base_seed + i)
        for _try in range(MAX_TRIES):
            graph = graphs[rng.randrange(len(graphs))]
            question = task.generate(graph, rng, want)
            if question is not None:
                break
        else:
            return None, ("no_question", task_name, encoding)
        shown = question.graphs
        names = ["G"] if len(shown) == 1 else [f"G{j + 1}" for j in range(len(shown))]
        texts = []
        for g, name in zip(shown, names):
            text = self._encode(g, encoding, name, reusable=g is graph)
            if text is None:
                return None, ("too_long", task_name, encoding)
            texts.append(text)
        tail = f"Q: {question.question}\nA:"
        prompt = "\n\n".join(texts) + "\n\n" + tail
        tokens = approx_tokens(prompt)
        if tokens > self.budget:
            return None, ("too_long", task_name, encoding)
        completion = " " + format_answer(question.answer_kind, question.answer)
        meta = dict(question.meta)
        meta["graph_key"] = self.keys[id(graph)]
        meta["prompt_tokens"] = tokens
        row = {
            "id": f"{split}-{i:06d}",
            "prompt": prompt,
            "completion": completion,
            "task": task_name,
            "family": self.families[task_name],
            "encoding": encoding,
            "answer_kind": question.answer_kind,
            "answer": json.dumps(question.answer, ensure_ascii=False),
            "graph_id": graph.graph_id,
            "generator": json.dumps(graph.params, sort_keys=True, ensure_ascii=False, default=str),
            "meta": json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str),
        }
        if self.chat:
            row["messages"] = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion.strip()}]
        return row, None

    def shard(self, job):
        """Examples ``start..stop-1`` of a split: (rows, drops, CPU seconds spent)."""
        split, start, stop = job
        cpu = time.process_time()
        base_seed = derive_seed(self.seed, "examples", split)
        rows, drops = [], []
        for i in range(start, stop):
            row, drop = self.example(split, i, base_seed)
            if row is None:
                drops.append(drop)
            else:
                rows.append(row)
        return rows, drops, time.process_time() - cpu


_ACTIVE: _Generator | None = None  # the generator forked worker processes use


def _run_shard(job):
    return _ACTIVE.shard(job)


def _generate(generator: _Generator, counts: dict, num_proc: int):
    global _ACTIVE
    jobs = []
    for split in SPLITS:
        n = counts[split]
        if n == 0:
            continue
        size = max(64, math.ceil(n / (num_proc * 4)))
        jobs.extend((split, start, min(n, start + size)) for start in range(0, n, size))
    import multiprocessing

    if num_proc > 1 and "fork" in multiprocessing.get_all_start_methods() and len(jobs) > 1:
        _ACTIVE = generator
        try:
            with multiprocessing.get_context("fork").Pool(num_proc) as pool:
                results = pool.map(_run_shard, jobs, chunksize=1)
        finally:
            _ACTIVE = None
    else:
        results = [generator.shard(job) for job in jobs]
    rows: dict[str, list] = {split: [] for split in SPLITS}
    drops: list = []
    cpu = 0.0
    for (split, _, _), (shard_rows, shard_drops, shard_cpu) in zip(jobs, results):
        rows[split].extend(shard_rows)
        drops.extend((split, *d) for d in shard_drops)
        cpu += shard_cpu
    return rows, drops, cpu


# --- step 5: the DatasetDict ---------------------------------------------------


def features(chat: bool):
    """The ``datasets.Features`` of every split (strings, plus ``messages`` for chat models)."""
    from datasets import Features, List, Value

    spec = {name: Value("string") for name in COLUMNS}
    if chat:
        spec["messages"] = List({"role": Value("string"), "content": Value("string")})
    return Features(spec)


def _to_dataset(rows: list, chat: bool):
    """Rows -> Dataset straight through Arrow (the values are plain strings: no per-row feature encoding)."""
    from datasets import Dataset, DatasetInfo
    from datasets.table import InMemoryTable

    spec = features(chat)
    table = InMemoryTable.from_pydict({c: [r[c] for r in rows] for c in spec}, schema=spec.arrow_schema)
    return Dataset(table, info=DatasetInfo(features=spec))


def _drop_summary(drops, budget) -> dict:
    reasons = {
        "too_long": f"prompt over data.max_prompt_tokens = {budget} (approximate tokens); never truncated",
        "no_question": f"the task found no question in {MAX_TRIES} hypergraphs drawn from the split",
    }
    summary = {}
    for reason, text in reasons.items():
        hits = [d for d in drops if d[1] == reason]
        if hits:
            summary[reason] = {
                "why": text,
                "count": len(hits),
                "by_split": dict(Counter(d[0] for d in hits)),
                "by_task": dict(Counter(d[2] for d in hits)),
                "by_encoding": dict(Counter(d[3] for d in hits)),
            }
    return summary


def build_dataset(recipe):
    """Build the recipe's datasets: ``(DatasetDict, report)``. The report says what was made, dropped and how fast."""
    from datasets import DatasetDict

    from odin_core.plugins import registry
    from odin_core.recipe import expand_tasks

    started = time.perf_counter()
    data = recipe.data
    reg = registry()
    task_names = expand_tasks(data.tasks, reg["task"])
    if not task_names:
        raise RecipeError("selects no registered task", file=recipe.path, key="data.tasks")
    tasks = {name: reg["task"][name].create(None) for name in task_names}
    families = {name: getattr(reg["task"][name].factory, "family", "") for name in task_names}
    encoders = {}
    for i, name in enumerate(data.encodings):
        if name not in reg["encoder"]:
            from odin_core.plugins import get_component

            get_component("encoder", name, file=recipe.path, key=f"data.encodings.{i}")
        encoders[name] = reg["encoder"][name].create(None)
    plan = _Plan(task_names, tasks, list(dict.fromkeys(data.encodings)), encoders, data.balance_yes_no)
    if not plan.pairs:
        raise RecipeError("every selected task needs a high-order encoding and only low-order ones are listed",
                          file=recipe.path, key="data.encodings")
    chat = uses_chat_template(recipe)

    # 1. hypergraphs
    graphs = collect_hypergraphs(recipe)
    t_sources = time.perf_counter() - started

    # 2. splits (a frozen test set replaces the test split and keeps its hypergraphs out of the others)
    frozen = frozen_eval_set(data.frozen_eval) if data.frozen_eval else None
    exclude = frozenset(json.loads(m).get("graph_key") for m in frozen["meta"]) if frozen is not None else frozenset()
    fractions = data.split.model_dump()
    counts = data.num_examples.model_dump()
    if frozen is not None:
        counts["test"] = 0
        fractions["test"] = 0.0  # the frozen set is the test split: every hypergraph here can train
    split_graphs, keys = assign_splits(graphs, fractions, recipe.seed, exclude)
    if not any(split_graphs.values()):
        raise DataError("every hypergraph is also in the frozen evaluation set; add other hypergraphs",
                        file=recipe.path, key="data.sources")
    warnings = []
    for split in SPLITS:
        if counts[split] > 0 and not split_graphs[split]:
            # never borrow another split's hypergraphs: the split stays empty and the report says why
            warnings.append(f"split {split!r} asked for {counts[split]} examples but got no hypergraph "
                            f"({len(graphs)} hypergraphs, {len(set(keys.values()))} distinct up to relabelling, "
                            f"fraction {fractions[split]}): it is empty; add hypergraphs or raise data.split.{split}")
            counts[split] = 0

    # 3-4. examples
    t_gen = time.perf_counter()
    generator = _Generator(recipe, split_graphs, keys, plan, tasks, encoders, families, chat)
    rows, drops, gen_cpu = _generate(generator, counts, data.num_proc)  # gen_cpu: summed over workers
    gen_seconds = time.perf_counter() - t_gen

    # 5. datasets
    splits = {split: _to_dataset(rows[split], chat) for split in SPLITS}
    if frozen is not None:
        splits["test"] = _frozen_with_columns(frozen, chat)
    dataset = DatasetDict(splits)
    made = sum(counts.values())
    report = {
        "recipe": recipe.name,
        "builder_version": BUILDER_VERSION,
        "hypergraphs": {"total": len(graphs), "distinct": len(set(keys.values())),
                        **{split: len(split_graphs[split]) for split in SPLITS}},
        "requested": counts,
        "examples": {split: len(dataset[split]) for split in SPLITS},
        "dropped": _drop_summary(drops, data.max_prompt_tokens),
        "skipped_pairs": [list(p) for p in plan.skipped],
        "warnings": warnings,
        "tasks": task_names,
        "encodings": list(dict.fromkeys(data.encodings)),
        "frozen_eval": data.frozen_eval,
        "messages": chat,
        "num_proc": data.num_proc,
        "seconds": {"sources": round(t_sources, 3), "examples": round(gen_seconds, 3),
                    "total": round(time.perf_counter() - started, 3)},
        "examples_per_second": round(made / gen_seconds, 1) if gen_seconds > 0 else None,
        # per core: CPU seconds the generating processes spent, so other load on the machine does not count
        "examples_per_cpu_second": round(made / gen_cpu, 1) if gen_cpu > 0 else None,
    }
    report["dropped_total"] = sum(d["count"] for d in report["dropped"].values())
    return dataset, report


# --- cache --------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return "missing"
    return h.hexdigest()


def fingerprint(recipe) -> str:
    """Hash of everything the built dataset depends on: data section, seed, builder and component code, inputs."""
    from odin_core.plugins import registry
    from odin_core.recipe import expand_tasks

    data = _resolved_data(recipe)
    data.pop("num_proc", None)  # any num_proc gives the same bytes
    data.pop("cache_dir", None)
    reg = registry()
    code = {}
    modules = {Path(__file__), Path(__file__).with_name("answers.py"), Path(__file__).with_name("hypergraph.py")}
    used = ([("task", n) for n in expand_tasks(recipe.data.tasks, reg["task"])]
            + [("encoder", n) for n in recipe.data.encodings] + [("source", e.name) for e in recipe.data.sources])
    for kind, name in used:
        component = reg[kind].get(name)
        if component is not None:
            try:
                modules.add(Path(inspect.getfile(component.factory)))
            except (TypeError, OSError):
                code[f"{kind}:{name}"] = component.plugin
    for path in sorted(modules):
        code[path.name + ":" + str(path.parent.name)] = _file_digest(path)
    inputs = {}
    for i, _entry, _component, source in _source_instances(recipe):
        if hasattr(source, "input_files"):
            for path in source.input_files(str(recipe.base_dir)):
                inputs[f"{i}:{Path(path).name}"] = _file_digest(Path(path))
    frozen = None
    if recipe.data.frozen_eval:
        frozen = _frozen_dir(recipe.data.frozen_eval)
        frozen = _file_digest(frozen / CHECKSUM_FILE)
    payload = {"data": data, "seed": recipe.seed, "builder": BUILDER_VERSION, "messages": uses_chat_template(recipe),
               "code": code, "inputs": inputs, "frozen": frozen}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cache_path(recipe, fp: str | None = None) -> Path:
    """Folder of this recipe's cached dataset (it may not exist yet)."""
    fp = fp or fingerprint(recipe)
    return Path(recipe.data.cache_dir).expanduser() / f"{recipe.name}-{fp[:16]}"


def _quiet_datasets():
    import datasets

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    return was


def load_or_build(recipe, force: bool = False, report_out: dict | None = None):
    """The recipe's DatasetDict from the cache, or built, saved (atomically) and returned.

    ``report_out`` (a dict) receives the build report (or the cached one) and ``cache_path``.
    """
    import datasets

    fp = fingerprint(recipe)
    target = cache_path(recipe, fp)
    if target.is_dir() and not force:
        report = json.loads((target / "report.json").read_text(encoding="utf-8"))
        report["cached"] = True
    else:
        dataset, report = build_dataset(recipe)
        report["fingerprint"] = fp

        def save(tmp):
            # one shard per split, always: datasets 4.8 writes no shard at all for an empty split
            # (huggingface/datasets#8385), which load_from_disk then cannot read
            dataset.save_to_disk(str(tmp / "dataset"), num_shards={split: 1 for split in dataset})
            (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

        was = _quiet_datasets()
        try:
            atomic_write_dir(target, save)
        finally:
            if was:
                datasets.enable_progress_bars()
        report["cached"] = False
    if report_out is not None:
        report_out.update(report)
        report_out["cache_path"] = str(target)
    return datasets.load_from_disk(str(target / "dataset"))


# --- frozen evaluation sets ------------------------------------------------------


def _frozen_dir(name: str) -> Path:
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate
    path = FROZEN_DIR / name
    if not path.is_dir():
        known = sorted(p.name for p in FROZEN_DIR.iterdir() if (p / CHECKSUM_FILE).exists()) if FROZEN_DIR.is_dir() else []
        raise DataError(f"no frozen evaluation set {name!r}; expected a folder data/{name}/ "
                        f"(known: {', '.join(known) or 'none'})", file=path)
    return path


def frozen_eval_set(name: str):
    """A frozen evaluation set (``data/<name>/test.jsonl``) as a ``datasets.Dataset``, checksum verified."""
    from datasets import Dataset

    folder = _frozen_dir(name)
    sums_path = folder / CHECKSUM_FILE
    if not sums_path.exists():
        raise DataError(f"has no {CHECKSUM_FILE}; a frozen set must carry its checksum", file=folder)
    expected = {}
    for lineno, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            parts = line.split()
            if len(parts) != 2:
                raise DataError("expected '<sha256>  <file>' lines", file=sums_path, line=lineno)
            expected[parts[1].lstrip("*")] = parts[0]
    if FROZEN_FILE not in expected:
        raise DataError(f"does not list {FROZEN_FILE}", file=sums_path)
    data_path = folder / FROZEN_FILE
    raw = data_path.read_bytes() if data_path.exists() else None
    if raw is None:
        raise DataError("is missing", file=data_path)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected[FROZEN_FILE]:
        raise DataError(f"checksum mismatch: {CHECKSUM_FILE} says {expected[FROZEN_FILE][:12]}…, the file hashes to "
                        f"{actual[:12]}…; the frozen set was modified", file=data_path)
    rows = []
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"malformed JSON line: {exc.msg}", file=data_path, line=lineno) from None
        rows.append(row)
    return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=features(False))


def _frozen_with_columns(frozen, chat: bool):
    if not chat:
        return frozen
    return _to_dataset([{**row, "messages": [{"role": "user", "content": row["prompt"]},
                                             {"role": "assistant", "content": row["completion"].strip()}]}
                        for row in frozen], chat=True)


def write_frozen_eval_set(recipe, name: str, dest: Path | None = None) -> tuple[Path, dict]:
    """Build the recipe's test split and save it as frozen set ``name``: test.jsonl, SHA256SUMS, recipe.json."""
    if recipe.data.frozen_eval:
        raise RecipeError("a frozen set cannot be made from a recipe that uses one", file=recipe.path,
                          key="data.frozen_eval")
    dataset, report = build_dataset(recipe)
    folder = Path(dest) if dest is not None else FROZEN_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({c: (f"{name}/{row[c]}" if c == "id" else row[c]) for c in COLUMNS},
                        ensure_ascii=False, sort_keys=True) for row in dataset["test"]]
    body = ("\n".join(lines) + "\n").encode("utf-8")
    (folder / FROZEN_FILE).write_bytes(body)
    (folder / CHECKSUM_FILE).write_text(f"{hashlib.sha256(body).hexdigest()}  {FROZEN_FILE}\n", encoding="utf-8")
    info = {"name": name, "recipe": str(recipe.path.name) if recipe.path else None, "seed": recipe.seed,
            "builder_version": BUILDER_VERSION, "examples": len(dataset["test"]), "data": _resolved_data(recipe),
            "dropped": report["dropped"], "tasks": report["tasks"], "encodings": report["encodings"]}
    (folder / "recipe.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder, report


# --- statistics ---------------------------------------------------------------------


def answer_stats(rows) -> dict:
    """Counts and answer distributions per split and task (yes rate, majority baseline, value histograms)."""
    stats: dict = {}
    for split, dataset in rows.items():
        per_task: dict = {}
        groups: dict[str, list] = defaultdict(list)
        for task, kind, answer, encoding in zip(dataset["task"], dataset["answer_kind"], dataset["answer"],
                                                dataset["encoding"]):
            groups[task].append((kind, json.loads(answer), encoding))
        for task, items in groups.items():
            kind = items[0][0]
            values = [a for _, a, _ in items]
            entry = {"count": len(items), "answer_kind": kind, "encodings": dict(Counter(e for _, _, e in items))}
            if kind == "vertex_set":
                keys = Counter(len(v) for v in values)
                entry["set_size"] = {str(k): c for k, c in sorted(keys.items())}
                entry["empty_rate"] = round(keys.get(0, 0) / len(values), 4)
                majority = Counter(json.dumps(sorted(v)) for v in values).most_common(1)[0]
            else:
                counter = Counter(json.dumps(v) for v in values)
                entry["answers"] = dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:12])
                if kind == "yes_no":
                    entry["yes_rate"] = round(sum(1 for v in values if v) / len(values), 4)
                majority = counter.most_common(1)[0]
            entry["majority_answer"] = majority[0]
            entry["majority_baseline"] = round(majority[1] / len(values), 4)
            per_task[task] = entry
        stats[split] = {"count": len(dataset), "tasks": per_task}
    return stats


# --- command line -------------------------------------------------------------------


def _recipe_option(func):
    from odin_core.cli import recipe_argument

    return recipe_argument(func)


@click.group("data")
def data_cli():
    """Build, inspect and freeze hypergraph datasets."""


@data_cli.command("build")
@_recipe_option
@click.option("--force", is_flag=True, help="Rebuild even when the cache holds this dataset.")
@click.option("--num-proc", type=int, default=None, help="Worker processes (overrides data.num_proc).")
def build_command(recipe, overrides, force, num_proc):
    """Build RECIPE's dataset (or reuse the cached one) and print what was made."""
    overrides = list(overrides) + ([f"data.num_proc={num_proc}"] if num_proc else [])
    loaded = load_data_recipe(recipe, overrides)
    report: dict = {}
    dataset = load_or_build(loaded, force=force, report_out=report)
    state = "reused cached dataset" if report["cached"] else "built"
    click.echo(f"{state}: {report['cache_path']}")
    for split in SPLITS:
        where = (f"frozen set {report['frozen_eval']}" if split == "test" and report.get("frozen_eval")
                 else f"{report['hypergraphs'][split]} hypergraphs, {report['requested'][split]} requested")
        click.echo(f"  {split:<10} {len(dataset[split]):>7} examples  ({where})")
    if report.get("dropped_total"):
        click.echo(f"  dropped {report['dropped_total']}:")
        for reason, info in report["dropped"].items():
            click.echo(f"    {info['count']} {reason}: {info['why']}; by encoding {info['by_encoding']}")
    for warning in report.get("warnings", []):
        click.echo(f"  warning: {warning}", err=True)
    if report["skipped_pairs"]:
        click.echo(f"  skipped {len(report['skipped_pairs'])} task x encoding pairs (task names hyperedges, "
                   "encoding is low-order)")
    if not report["cached"]:
        click.echo(f"  {report['examples_per_second']} examples/s with num_proc={report['num_proc']} "
                   f"({report['examples_per_cpu_second']} per CPU-second of generation; "
                   f"{report['seconds']['total']} s in all, {report['seconds']['sources']} s loading sources)")


@data_cli.command("show")
@_recipe_option
@click.option("-n", "count", type=int, default=5, show_default=True, help="How many examples.")
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True)
@click.option("--task", default=None, help="Only this task.")
@click.option("--encoding", default=None, help="Only this encoding.")
def show_command(recipe, overrides, count, split, task, encoding):
    """Print examples of RECIPE's dataset: prompt, completion, task, encoding."""
    loaded = load_data_recipe(recipe, overrides)
    dataset = load_or_build(loaded)[split]
    shown = 0
    for row in dataset:
        if (task and row["task"] != task) or (encoding and row["encoding"] != encoding):
            continue
        click.echo(f"--- {row['id']}  task={row['task']} ({row['family']})  encoding={row['encoding']}  "
                   f"graph={row['graph_id']}")
        click.echo(row["prompt"] + click.style(row["completion"], bold=True))
        click.echo()
        shown += 1
        if shown >= count:
            break
    if shown == 0:
        click.echo(f"no example in {split} matches", err=True)


@data_cli.command("stats")
@_recipe_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats_command(recipe, overrides, as_json):
    """Counts and answer distributions per task and split (yes/no balance, majority baselines)."""
    loaded = load_data_recipe(recipe, overrides)
    report: dict = {}
    dataset = load_or_build(loaded, report_out=report)
    stats = answer_stats({split: dataset[split] for split in SPLITS})
    if as_json:
        click.echo(json.dumps({"stats": stats, "dropped": report.get("dropped", {})}, indent=2))
        return
    for split in SPLITS:
        click.echo(f"{split}: {stats[split]['count']} examples")
        for task, entry in stats[split]["tasks"].items():
            line = f"  {task:<26} {entry['count']:>6}  majority {entry['majority_baseline']:.0%}"
            if "yes_rate" in entry:
                line += f"  yes {entry['yes_rate']:.0%}"
            elif "set_size" in entry:
                line += f"  set sizes {entry['set_size']}"
            else:
                top = ", ".join(f"{k}: {v}" for k, v in list(entry["answers"].items())[:6])
                line += f"  answers {top}"
            click.echo(line)
    if report.get("dropped_total"):
        click.echo(f"dropped {report['dropped_total']}: " + "; ".join(
            f"{info['count']} {reason} ({info['why']})" for reason, info in report["dropped"].items()))


@data_cli.command("freeze")
@_recipe_option
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write (default: data/NAME in the Odin checkout).")
def freeze_command(recipe, overrides, name, dest):
    """Save RECIPE's test split as the frozen evaluation set NAME (JSON lines + SHA256SUMS)."""
    loaded = load_data_recipe(recipe, overrides)
    folder, report = write_frozen_eval_set(loaded, name, dest)
    click.echo(f"wrote {report['examples']['test']} examples to {folder} "
               f"({report['dropped_total']} dropped)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(data_cli())
