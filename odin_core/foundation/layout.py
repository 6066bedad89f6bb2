"""Names shared across layers: dataset splits and columns, and the files of a run directory."""

from __future__ import annotations

SPLITS = ("train", "validation", "test")
#: columns of every dataset split (chat recipes add ``messages``)
COLUMNS = ("id", "prompt", "completion", "task", "family", "encoding", "answer_kind", "answer", "graph_id",
           "generator", "meta")

# --- a run directory: runs/<name>-<UTC timestamp>/ -------------------------------------
RECIPE_FILE = "recipe.toml"  # the resolved recipe: what makes a folder a run directory
ENVIRONMENT_FILE = "environment.json"
LOG_FILE = "odin.log"
METRICS_LOG = "metrics.jsonl"  # one record per logging step
METRICS_FILE = "metrics.json"  # stage records of every evaluation
BASE_METRICS_FILE = "base_metrics.json"
PROMPTED_METRICS_FILE = "prompted_metrics.json"
DATA_REPORT_FILE = "data_report.json"
REPORT_FILE = "report.md"
TRAINER_STATE = "trainer_state.json"
ADAPTER_DIR = "adapter"
FULL_MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoints"
MERGED_DIR = "merged"
GGUF_DIR = "gguf"  # odin export --gguf: <run name>-<dtype>.gguf
SEEDS_DIR = "seeds"  # runs of --seeds N: one sub-run per seed
TRAINING_PREDICTIONS_DIR = "training_predictions"  # the answers scored at each evaluation during training
RESUMES_LOG = "resumes.jsonl"  # one record per resume with changed settings (--allow-changes)
TRAINING_SUMMARY = "training.json"  # supervised training's summary, written when it completes
RL_METRICS_LOG = "rl_metrics.jsonl"  # one record per logging step of the RL stage: reward, KL, lengths
RL_CHECKPOINT_DIR = "rl_checkpoints"
RL_DIR = "rl"  # the model after the RL stage: an adapter, or the whole model for full fine-tuning
RL_SUMMARY = "rl.json"  # the RL stage's summary, written when it completes


def predictions_file(stage: str) -> str:
    """``predictions-<stage>.jsonl``: one record per evaluated row."""
    return f"predictions-{stage}.jsonl"


# --- a sweep directory (odin sweep): runs/<name>-sweep-<UTC timestamp>/ ---------------------
SWEEP_CONFIG = "sweep_config.json"  # what the sweep searches: recipe, overrides, params, metric, trials
SWEEP_STUDY = "study.db"  # the Optuna study (SQLite): every trial, its params, value and state
SWEEP_TRIALS_DIR = "trials"  # one run directory per trial: trials/trial-0000, ...
SWEEP_LOCK = "sweep.lock"  # the pid of the odin sweep using the folder
SWEEP_LOG = "sweep.log"
SWEEP_JSON = "sweep.json"
SWEEP_REPORT = "sweep.md"
SWEEP_HISTORY_PLOT = "optimization_history.png"
SWEEP_IMPORTANCE_PLOT = "param_importances.png"
