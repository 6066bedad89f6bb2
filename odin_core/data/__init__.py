"""Datasets: from a recipe's ``[data]`` section to train/validation/test splits, cached and frozen.

``build`` holds the steps (sources -> hypergraphs -> splits -> questions -> prompts),
``cache`` the fingerprinted cache, ``frozen`` and ``freeze`` the frozen evaluation sets,
``generalisation`` and ``relabel`` their extra splits, and ``stats`` what a dataset holds.
Heavy libraries (``datasets``) are imported inside the functions that need them.
"""

from odin_core.data.build import BUILDER_VERSION, build_dataset
from odin_core.data.cache import cache_path, fingerprint, load_or_build
from odin_core.data.freeze import prompt_token_summary, write_frozen_eval_set
from odin_core.data.frozen import (CHECKSUM_FILE, FROZEN_DIR, FROZEN_FILE, frozen_eval_set, frozen_graph_keys,
                                   frozen_info, frozen_splits)
from odin_core.data.generalisation import (UNSEEN_ENCODINGS, available_splits, check_extra_splits, extra_split,
                                           split_info)
from odin_core.data.relabel import paired_id
from odin_core.data.splits import assign_splits, collect_hypergraphs, graph_key
from odin_core.data.stats import answer_stats, heuristic_stats, learned_stats
from odin_core.data.tokens import approx_tokens, token_bound
from odin_core.foundation.layout import COLUMNS, SPLITS

__all__ = ["BUILDER_VERSION", "build_dataset", "cache_path", "fingerprint", "load_or_build", "CHECKSUM_FILE",
           "FROZEN_DIR", "FROZEN_FILE", "frozen_eval_set", "frozen_graph_keys", "frozen_info", "frozen_splits",
           "write_frozen_eval_set", "prompt_token_summary", "UNSEEN_ENCODINGS", "available_splits",
           "check_extra_splits", "extra_split", "split_info", "paired_id", "assign_splits",
           "collect_hypergraphs", "graph_key", "answer_stats", "heuristic_stats", "learned_stats", "approx_tokens", "token_bound", "COLUMNS", "SPLITS"]
