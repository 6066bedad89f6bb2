"""What each component kind receives and returns: the typed protocols, in one place.

A component is registered under a name through a hook in ``odin_core.components.hookspecs``
with a factory; ``factory(options)`` returns an object following one of these
protocols. Heavy libraries (torch, transformers, hypernetx) are imported inside
methods, never at module import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Protocol, runtime_checkable

from odin_core.questions.hypergraph import Hypergraph

TaskFamily = Literal["low_order", "high_order", "isomorphism", "hyperedge_prediction"]
TASK_FAMILIES: tuple[str, ...] = ("low_order", "high_order", "isomorphism", "hyperedge_prediction")
#: how the negatives of hyperedge discrimination questions are made (``Question.meta["negative_scheme"]``):
#: sized, motif and clique negative sampling, from easiest to hardest
NEGATIVE_SCHEMES: tuple[str, ...] = ("SNS", "MNS", "CNS")


# --- data ----------------------------------------------------------------


@runtime_checkable
class Source(Protocol):
    """Produces the hypergraphs a dataset is built from (deterministic given ``seed``)."""

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        """Yield hypergraphs; ``base_dir`` is the recipe's folder, for relative paths."""

    # Optional: ``input_files(base_dir) -> list[str]``, the files it reads, so the dataset
    # cache is rebuilt when one of them changes.


@runtime_checkable
class Encoder(Protocol):
    """Writes a hypergraph as prompt text (one "hypergraph language")."""

    #: "low" when the text only shows pairwise structure (clique expansion):
    #: tasks that name hyperedges cannot be asked under it.
    order: Literal["low", "high"]

    def encode(self, graph: Hypergraph, name: str = "G") -> str:
        """Text describing ``graph``, introduced as ``name``."""

    # Optional: ``min_tokens(graph) -> int``, a cheap lower bound of the encoded text's
    # approximate tokens (``odin_core.data.approx_tokens``); the builder skips encoding a
    # hypergraph whose bound is over ``data.max_prompt_tokens``.


@dataclass
class Question:
    """One task instance: what the prompt shows, what it asks, and the answer.

    ``meta`` (JSON-ready) goes to the row's ``meta`` column. ``meta["heuristics"]``, when a
    task sets it, is ``{rule name: answer}``: what each shallow rule (one that skips the
    reasoning the task measures) answers here, in the form of ``answer``. Odin scores the
    rules as heuristic baselines and flags tasks they answer too well (``odin_core.questions.heuristics``).
    """

    graphs: list[Hypergraph]
    question: str
    answer_kind: str  # one of odin_core.questions.answers.ANSWER_KINDS
    answer: Any  # structured value, JSON-serialisable (see odin_core.questions.answers.format_answer)
    meta: dict = field(default_factory=dict)  # e.g. {"negative_scheme": "CNS", "heuristics": {"first_option": True}}
    #: a short, exact, step-by-step trace that leads to ``answer`` from what the prompt shows, written before
    #: ``Ans:`` when the recipe sets ``data.rationale = "trace"`` ("" for none). It must not contain "[", "]"
    #: (generation stops at "]") nor "Ans:", and must mention only what every encoding the task is paired with
    #: shows (no hyperedge names for a task that low-order encodings can express).
    rationale: str = ""


@runtime_checkable
class Task(Protocol):
    """Generates questions with canonical answers from a hypergraph."""

    family: TaskFamily
    answer_kind: str
    #: True when the question names hyperedges (e3), so only high-order encodings determine it.
    needs_high_order: bool
    #: optional: names of ``odin_core.questions.shortcut_features`` that are the answer itself (a degree question's asked
    #: degree); the learned shortcut baseline leaves them out. Absent means none.

    def generate(self, graph: Hypergraph, rng, want=None) -> Question | None:
        """One question about ``graph`` using ``rng`` (a ``random.Random``), or None if none applies.

        ``want`` (yes/no tasks only): True or False asks for a question with that answer,
        so the builder can balance labels; None leaves it to chance."""


# --- models --------------------------------------------------------------


@dataclass(frozen=True)
class LoadSettings:
    """How a loader must load the base model: what the LoRA strategy needs, or inference."""

    load_in_4bit: bool = False
    full_finetuning: bool = False
    #: True, False, or "unsloth" (Unsloth's offloaded checkpointing; plain on transformers)
    gradient_checkpointing: bool | str = False

    @classmethod
    def for_strategy(cls, strategy) -> "LoadSettings":
        return cls(strategy.load_in_4bit, strategy.full_finetuning, strategy.gradient_checkpointing)


@dataclass
class LoadedModel:
    """What a loader returns: the model, its tokenizer, and family defaults."""

    model: Any
    tokenizer: Any
    engine: str  # "unsloth" or "transformers": which stack loaded it
    target_modules: list[str] = field(default_factory=list)
    chat_template: bool = False  # the tokenizer has a chat template to apply
    info: dict = field(default_factory=dict)
    #: randomly initialised weights (a scratch model): its base evaluation is capped to a few rows
    untrained: bool = False


@runtime_checkable
class ModelLoader(Protocol):
    """Loads a base model (name, local path, or built from a config)."""

    #: whether examples are formatted as chat messages by default (``model.chat_template`` overrides)
    chat_template: bool

    # Optional: ``check(model_section, recipe)``, called by recipe validation (``odin validate``, before a
    # run builds anything): raise ``ModelError``/``RecipeError`` for a model that cannot be had (a missing
    # package, a file that does not exist). Cheap: no torch, no network.
    # Optional: ``shape(model_section, recipe)`` -> ``odin_core.ModelShape`` or None: the model's layers and
    # widths without loading it (a config.json, GGUF metadata, the loader's options), for ``odin estimate``.
    # Optional: ``tokenizer(model_section, recipe)`` -> the model's tokenizer without its weights, for
    # ``data.token_count = "model"`` (the build counts prompts with it).

    def load(self, model_section, settings: LoadSettings, run, train_texts) -> LoadedModel:
        """``model_section``: the recipe's ``[model]`` (loader options in ``.options``);
        ``settings``: how to load (4-bit, full fine-tuning, gradient checkpointing);
        ``run``: the ``RunDir`` (``run.recipe`` is the recipe); ``train_texts``: an iterable of
        training texts (prompt + completion) for loaders that train a tokenizer, or None when
        a trained run is reloaded."""


@runtime_checkable
class LoraStrategy(Protocol):
    """Decides how weights are trained: adapters, quantised base, or full fine-tuning."""

    requires_cuda: bool
    load_in_4bit: bool
    full_finetuning: bool
    gradient_checkpointing: bool | str

    def apply(self, loaded: LoadedModel, seed: int) -> Any:
        """Return the trainable model (e.g. a PEFT model) for ``loaded``."""


@runtime_checkable
class Engine(Protocol):
    """The library stack a run loads, wraps, trains and generates with (``training.engine``): Unsloth, plain
    transformers + PEFT + TRL, or a third party's. Loaders and strategies call it instead of naming a library."""

    #: the engine's chunked cross-entropy keeps the logits out of memory (``odin estimate``)
    fused_loss: bool

    def prepare(self, recipe) -> list[str]:
        """Called first in a run, before anything imports transformers (Unsloth patches it at import); raises
        ``RecipeError`` for a recipe this engine cannot run here; returns warnings to show (``"warning: ..."``)."""

    def cpu_weights_dtype(self, cpu_bf16: bool) -> str:
        """``"bfloat16"`` or ``"float32"``: the weights' dtype on a CPU for ``model.dtype = "auto"``."""

    def load(self, source: str, *, dtype, auto_dtype: bool, max_seq_length: int, load_in_4bit: bool,
             full_finetuning: bool, gradient_checkpointing, revision, trust_remote_code: bool, device: str):
        """(model, tokenizer) from a local folder or hub name; ``auto_dtype``: ``model.dtype`` was "auto"."""

    def add_adapter(self, model, lora: dict, *, use_dora: bool, gradient_checkpointing, random_state: int,
                    load_in_4bit: bool):
        """The model with LoRA adapters (``lora``: rank, alpha, dropout, bias, target_modules, use_rslora,
        modules_to_save) in PEFT format."""

    def prepare_full(self, model, gradient_checkpointing) -> None:
        """Set up full fine-tuning of ``model`` (gradient checkpointing, where the loader did not)."""

    def generating(self, model):
        """A context manager: ``model`` ready to generate inside, back to training mode after."""

    def trainer(self, recipe, loaded: LoadedModel, train_set, eval_set, arguments: dict):
        """A ``transformers.Trainer`` (or subclass) on the tokenized sets; ``arguments``: TrainingArguments keys."""


# --- evaluation and tracking --------------------------------------------


@runtime_checkable
class Evaluator(Protocol):
    """Computes metrics on an evaluation split."""

    #: dataset columns it reads (checked at validate time)
    requires_columns: tuple[str, ...]

    def evaluate(self, context) -> dict:
        """Metrics (JSON-serialisable) from ``context``: an ``odin_core.evaluate.EvalContext``
        giving the examples and, lazily, the model's generations, choice scores and loss."""

    # Optional: ``report_section(stages: dict[str, dict]) -> str | None``: Markdown for
    # ``report.md`` from this evaluator's metrics of each stage ({"base": ..., "trained": ...,
    # "majority": ...}). Without it the report shows the evaluator's top-level numbers per stage.


@runtime_checkable
class Reward(Protocol):
    """Scores sampled completions for reinforcement learning (``[[rl.rewards]]``): a number per completion,
    higher is better. ``rows`` are the questions' dataset rows (``task``, ``answer_kind``, ``answer``, ``meta``,
    ...), one per completion."""

    def score(self, rows: list[dict], completions: list[str]) -> list[float]: ...


@runtime_checkable
class Tracker(Protocol):
    """Sends a run's config and metrics to an experiment tracker."""

    def start(self, run) -> None: ...
    def log(self, step: int, metrics: dict) -> None: ...
    def finish(self, status: str, summary: dict) -> None: ...
