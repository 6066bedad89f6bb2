"""Prompted baselines: the base model asked through its chat template, in each of ``generation.prompting``'s
ways: zero-shot, k-shot, Hyper-BAG and Hyper-COT.

Each stage puts an instruction before the question; k-shot adds ``generation.shots``
worked examples as earlier turns of the conversation (the user asks, the assistant
answers in the canonical form). Shots come from the training split only, have the
evaluated row's task and encoding, and never show the row's own hypergraph. Hyper-BAG and Hyper-COT are
LLM4Hypergraph's two prompting techniques (ICLR 2025), in Odin's own words: the model first rebuilds the
hypergraph's structure in words (BAG: build a graph), or reasons step by step along the hypergraph's
incidences (COT), and answers at the end; they get ``generation.reasoning_tokens`` and stop at the end of the
answer. Rows whose prompt plus answer budget exceeds the model's context are skipped and counted, never
truncated.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict

from odin_core.evaluate.rows import rows_of, select_examples
from odin_core.evaluate.stage import evaluate_model
from odin_core.foundation.seeds import derive_seed
from odin_core.runtime.chat import encode, model_uses_chat, render

#: put before the first question of a prompted conversation
INSTRUCTION = ("You are given a hypergraph and a question about it. Answer the question about this hypergraph. "
               "Write the answer after \"Ans:\" in exactly the format the question asks for, e.g. Ans: [3].")
_END = ("Finish with the answer after \"Ans:\" in exactly the format the question asks for, e.g. Ans: [3], and "
        "use square brackets only there.")
#: Hyper-BAG: rebuild the hypergraph's structure in words first, then answer
HYPER_BAG = ("You are given a hypergraph and a question about it. In a hypergraph a hyperedge joins any number of "
             "vertices. Before answering, rebuild the hypergraph in your own words: list every hyperedge with the "
             "vertices it joins, then, for each vertex the question names, the hyperedges that contain it. Then "
             "answer the question from that list. " + _END)
#: Hyper-COT: reason step by step along the hypergraph's incidences, then answer
HYPER_COT = ("You are given a hypergraph and a question about it. In a hypergraph a hyperedge joins any number of "
             "vertices. Think step by step: name the vertices and hyperedges the question is about, find the "
             "hyperedges that contain each named vertex and the vertices each named hyperedge joins, follow them one "
             "step at a time as the question needs, and count or compare only what you have written down. " + _END)
#: stage -> (instruction, worked examples or not, reasons before answering)
PROMPTINGS = {"zero_shot": (INSTRUCTION, False, False), "k_shot": (INSTRUCTION, True, False),
              "hyper_bag": (HYPER_BAG, False, True), "hyper_cot": (HYPER_COT, False, True)}


def _graph_of(row) -> tuple[str, str]:
    meta = row.get("meta")
    meta = json.loads(meta) if isinstance(meta, str) else (meta or {})
    return row.get("graph_id", ""), meta.get("graph_key", "")


def shot_pool(train_rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Training rows by (task, encoding): where the worked examples come from."""
    pool: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in train_rows:
        pool[(row["task"], row.get("encoding", ""))].append(row)
    return pool


def choose_shots(row: dict, pool: dict, k: int, seed: int) -> list[dict]:
    """``k`` training rows of the row's task and encoding, none about the row's own hypergraph (seeded per row)."""
    graph_id, graph_key = _graph_of(row)
    candidates = [r for r in pool.get((row["task"], row.get("encoding", "")), ())
                  if _graph_of(r)[0] != graph_id and (not graph_key or _graph_of(r)[1] != graph_key)]
    rng = random.Random(derive_seed(seed, "shots", row.get("id"), row["prompt"]))
    return rng.sample(candidates, min(k, len(candidates)))


def prompted_messages(row: dict, shots: list[dict], instruction: str = INSTRUCTION) -> list[dict]:
    """The conversation: the instruction, each shot as a question and its canonical answer, then the row."""
    messages = []
    for i, shot in enumerate(shots):
        content = (instruction + "\n\n" if i == 0 else "") + shot["prompt"]
        messages += [{"role": "user", "content": content},
                     {"role": "assistant", "content": shot["completion"].strip()}]
    content = (instruction + "\n\n" if not shots else "") + row["prompt"]
    return messages + [{"role": "user", "content": content},
                       {"role": "assistant", "content": row["completion"].strip()}]


def context_limit(loaded) -> int | None:
    """The model's context in tokens (tokenizer limit, else the config's positions), or None when unknown."""
    limit = getattr(loaded.tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < 10**7:
        return limit
    config = getattr(loaded.model, "config", None)
    return getattr(config, "max_position_embeddings", None)


def evaluate_prompted(recipe, loaded, eval_split, train_split, run_dir, *, loss_split=None) -> dict:
    """Stage records (``{"zero_shot": ..., "k_shot": ..., "hyper_bag": ..., "hyper_cot": ...}``, those of
    ``generation.prompting``) of the base model prompted through its chat template, or ``{"skipped": reason}``
    for a model without one."""
    if not model_uses_chat(loaded):
        return {"skipped": "the model has no chat template (or model.chat_template is false): prompting needs one"}
    examples = select_examples(eval_split, recipe.generation.max_examples, recipe.seed)
    pool = shot_pool(rows_of(train_split))
    limit = context_limit(loaded)
    results = {}
    for stage in recipe.generation.prompting:
        instruction, with_shots, reasons = PROMPTINGS[stage]
        k = recipe.generation.shots if with_shots else 0
        budget = recipe.generation.reasoning_tokens if reasons else (recipe.generation.max_new_tokens or 32)
        rows, skipped, fewer = [], 0, 0
        for row in examples:
            shots = choose_shots(row, pool, k, recipe.seed) if k else []
            fewer += len(shots) < k
            prompted = {**row, "messages": prompted_messages(row, shots, instruction)}
            if limit is not None:
                prompt, _ = render(loaded.tokenizer, prompted, chat=True)
                if len(encode(loaded.tokenizer, [prompt])[0]) + budget > limit:
                    skipped += 1
                    continue
            rows.append(prompted)
        record = evaluate_model(recipe, loaded, rows, run_dir, stage=stage, loss_split=None,
                                split_name=recipe.generation.split,
                                reasoning_tokens=budget if reasons else None) if rows else {"stage": stage,
                                                                                          "num_examples": 0}
        record["prompting"] = {"shots": k, "instruction": instruction, "reasons_first": reasons,
                               "skipped_over_context": skipped, "rows_with_fewer_shots": fewer,
                               "context_tokens": limit}
        results[stage] = record
    return results
