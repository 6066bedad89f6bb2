"""Training: tokenized splits, the engines' trainers, the RL stage, checkpoints and resume, and reloading a
trained run.

Heavy libraries are imported inside the functions; importing this package is cheap.
"""

from odin_core.engine.checkpoints import last_checkpoint
from odin_core.engine.reload import load_run_model
from odin_core.engine.rl import train_rl
from odin_core.engine.tokenize import tokenize_split, uses_chat
from odin_core.engine.train import check_examples_fit, train
from odin_core.engine.trainers import training_arguments

__all__ = ["check_examples_fit", "last_checkpoint", "load_run_model", "tokenize_split", "uses_chat", "train", "train_rl",
           "training_arguments"]
