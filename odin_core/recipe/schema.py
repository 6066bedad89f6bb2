"""The recipe schema: the sections of a TOML recipe as pydantic models.

A section that names a component (``[model] loader``, ``[finetune] strategy``,
``[[data.sources]] name``, ``[[eval]] name``, ``[[tracking]] name``, and the
table form of ``data.encodings`` / ``data.tasks`` entries) keeps that
component's other keys as its options; ``odin_core.recipe`` validates them with
the options model the component registered.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from odin_core.components.protocols import TASK_FAMILIES
from odin_core.foundation.errors import RecipeError

#: evaluators used when a recipe has no [[eval]] tables
DEFAULT_EVALUATORS = ("metrics.task_accuracy", "metrics.hyperedge_set", "metrics.hyperedge_discrimination",
                      "metrics.perplexity")

#: split names an extra split of a frozen set cannot take: the dataset's own and the computed one
RESERVED_SPLITS = ("train", "validation", "test", "unseen_encodings")
#: tokens kept free for the chat template and the answer beyond the prompt
ANSWER_ROOM = 64
#: data.max_prompt_tokens of a recipe without a model (data-only recipes, frozen sets)
DEFAULT_PROMPT_TOKENS = 2048
#: the largest seed numpy's generators accept (torch takes more)
MAX_SEED = 2**32 - 1
#: sequences in one batch, at most: a bound that no machine reaches, so a typo fails at validation, not in a loop
MAX_BATCH = 65536


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class _Selector(BaseModel):
    """A section naming a component; its other keys are that component's options."""

    model_config = ConfigDict(extra="allow")
    _options: Any = PrivateAttr(default=None)

    @property
    def options(self):
        """The component's validated options (a pydantic model), or None."""
        return self._options

    def with_options(self, options) -> "_Selector":
        """This section with validated component options attached (set by recipe validation)."""
        self._options = options
        return self

    def resolved(self) -> dict:
        """The section as plain data, the component's options (defaults included) inlined."""
        data = self.model_dump(mode="json", exclude_none=False)
        if self._options is not None:
            data.update(self._options.model_dump(mode="json"))
        return data


class ModelSection(_Selector):
    loader: str = Field(description="model loader component, e.g. 'models.llama', 'models.scratch'")
    name: str | None = Field(None, description="hub model name, local directory in Hugging Face layout, or what "
                                               "the loader accepts besides (e.g. a GGUF file)")
    max_seq_length: int = Field(2048, gt=0)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    chat_template: bool | None = Field(None, description="format examples as chat messages; default: the loader's family default")


class SourceEntry(_Selector):
    name: str = Field(description="hypergraph source component, e.g. 'hypernetx.synthetic'")


class ComponentEntry(_Selector):
    """An entry of ``data.encodings`` or ``data.tasks``: a name, or a table with ``name`` and options."""

    name: str = Field(description="component name (for data.tasks also a task family or 'all')")


def _entries(value):
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


class SplitSizes(_Strict):
    train: int = Field(1000, ge=0)
    validation: int = Field(100, ge=0)
    test: int = Field(200, ge=0)


class SplitFractions(_Strict):
    train: float = Field(0.8, ge=0, le=1)
    validation: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)


class ExtraSplit(_Strict):
    """An extra split of a frozen evaluation set (``[data.extra_splits.NAME]``, used by ``odin data freeze``):
    the main data section with these keys overridden."""

    description: str = Field("", description="what the split measures (kept in the set's recipe.json)")
    sources: list[SourceEntry] | None = Field(None, description="its own [[...sources]] tables; default: the main "
                                                               "sources (and then the same questions as the test split)")
    num_examples: int | None = Field(None, ge=1, description="questions to draw; default: data.num_examples.test")
    max_prompt_tokens: int | None = Field(None, gt=0, description="prompt budget; default: data.max_prompt_tokens")
    vertex_names: Literal["keep", "permuted", "words"] = Field(
        "keep", description="rename every hypergraph's vertices: 'permuted' (v3 -> v11 ...), 'words' (a fixed word "
                            "list); with the main sources its rows pair one-to-one with the test split's")


class DataSection(_Strict):
    sources: list[SourceEntry] = Field(min_length=1, description="where hypergraphs come from ([[data.sources]] tables)")
    tasks: list[ComponentEntry] = Field(
        [ComponentEntry(name="all")],
        description="task names, task families, or 'all'; a table {name = ..., option = ...} sets a task's options")
    encodings: list[ComponentEntry] = Field(
        min_length=1, description="encoder names, or tables {name = ..., option = ...}; several mix encodings")
    num_examples: SplitSizes = SplitSizes()
    split: SplitFractions = Field(SplitFractions(), description="fraction of hypergraphs per split")
    max_prompt_tokens: int | None = Field(
        None, gt=0, description="examples whose prompt exceeds this many tokens (data.token_count) are dropped and "
                                "reported; default: what fits model.max_seq_length with the answer's room "
                                f"({ANSWER_ROOM} tokens), or {DEFAULT_PROMPT_TOKENS} in a recipe without a model")
    token_count: Literal["bound", "estimate", "model"] = Field(
        "bound", description="how prompts are counted against max_prompt_tokens: 'bound', an upper bound on the "
                             "tokenizers Odin ships or builds; 'model', the recipe's own model's tokenizer (a loader "
                             "that can load it without the weights: a GGUF file, a local folder, a cached hub "
                             "model; not a scratch model, whose tokenizer is trained on these data); 'estimate', "
                             "builder version 3's estimate, which can count low (kept so frozen sets built with it "
                             "rebuild byte for byte)")
    balance_yes_no: bool = True
    rationale: Literal["none", "trace"] = Field(
        "none", description="'trace': each completion writes the task's step-by-step trace before 'Ans:' "
                            "(tasks without one write the answer alone); 'none': the answer alone")
    ids: Literal["random", "ordered"] = Field(
        "random", description="'random': vertices and hyperedges get distinct ids drawn at random (v37, e12, ...), so "
                              "no count can be read off the largest id; 'ordered': v0..v(n-1) and e0..e(m-1)")
    adversarial_pool: float = Field(
        2.0, ge=1.0, le=10.0, description="generate this many times the requested examples, then drop per task the "
                                          "ones a model over cheap features predicts best (1.0: no filtering)")
    num_proc: int = Field(1, ge=1)
    cache_dir: str = ".odin_cache/datasets"
    frozen_eval: str | None = Field(None, description="name of a frozen evaluation set in data/ used as the test split; "
                                                      "only its rows of the recipe's tasks and encodings are used")
    frozen_per_task: int | None = Field(None, gt=0, description="use at most this many rows per task of the frozen "
                                                                "set (its first ones), e.g. to size a CPU evaluation")
    extra_splits: dict[str, ExtraSplit] = Field(
        default_factory=dict, description="extra evaluation splits `odin data freeze` builds beside the test split")

    @field_validator("extra_splits")
    @classmethod
    def _extra_split_names(cls, value):
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in RESERVED_SPLITS:
                raise ValueError(f"extra split name {name!r}: expected lowercase letters, digits and _, and none of "
                                 f"{', '.join(RESERVED_SPLITS)}")
        return value

    @field_validator("tasks", "encodings", mode="before")
    @classmethod
    def _names_to_entries(cls, value):
        return _entries(value)

    @field_validator("encodings")
    @classmethod
    def _unique_encodings(cls, value):
        names = [e.name for e in value]
        if len(names) != len(set(names)):
            raise ValueError("each encoding may appear once")
        return value

    @property
    def encoding_names(self) -> list[str]:
        return [e.name for e in self.encodings]

    @property
    def task_names(self) -> list[str]:
        """The ``data.tasks`` entries as written: task names, family names, 'all'."""
        return [e.name for e in self.tasks]

    def resolved(self) -> dict:
        data = self.model_dump(mode="json")
        data["sources"] = [e.resolved() for e in self.sources]
        if not self.extra_splits:
            data.pop("extra_splits")  # recipes without extra splits keep their cache fingerprint
        for name, extra in self.extra_splits.items():
            if extra.sources is not None:
                data["extra_splits"][name]["sources"] = [e.resolved() for e in extra.sources]
        for key in ("tasks", "encodings"):
            data[key] = [e.name if e.options is None and not e.model_extra else e.resolved()
                         for e in getattr(self, key)]
        return data


class FinetuneSection(_Selector):
    """``[finetune]``: how the model is trained, a strategy (LoRA, QLoRA, DoRA, full) and its options
    (``[lora]`` in recipes before 0.3, still read)."""

    strategy: str = Field("finetune.lora", description="training strategy component: finetune.lora, finetune.qlora, "
                                                     "finetune.rslora, finetune.dora, finetune.full")


class EarlyStopping(_Strict):
    """Stop when ``metric`` has not improved for ``patience`` evaluations: validation loss (lower is better) or
    the task accuracy of ``training.eval_accuracy_examples`` (higher is better)."""

    metric: Literal["eval_loss", "eval_accuracy", "eval_accuracy_macro"] = "eval_loss"
    patience: int = Field(3, ge=1, description="evaluations without improvement before training stops")
    min_delta: float = Field(0.0, ge=0, description="an improvement smaller than this does not count")


class TrainingSection(_Strict):
    engine: str = Field("unsloth", description="the training engine component: 'unsloth', 'transformers', or one a "
                                               "plugin registers (odin plugins lists them)")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="seed of model and adapter initialisation and data order; default: the "
                                               "recipe's seed (which alone fixes the dataset and its splits)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: use num_epochs)")
    batch_size: int = Field(4, gt=0, le=MAX_BATCH, description="per-device train batch size")
    gradient_accumulation_steps: int = Field(1, gt=0, le=MAX_BATCH)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.05, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    optim: str = Field("auto", description="'auto': 8-bit AdamW on CUDA, AdamW otherwise; or any transformers optimizer name")
    packing: bool = False
    completion_only_loss: bool = True
    logging_steps: int = Field(10, gt=0)
    eval_steps: int | None = Field(None, gt=0, description="evaluate loss on the validation split every N steps")
    eval_schedule: Literal["every", "doubling"] = Field(
        "every", description="'every': at every eval_steps; 'doubling': at eval_steps, 2x, 4x, ... and the last "
        "step (evenly spaced points of a learning curve on a log axis)")
    save_steps: int = Field(100, gt=0)
    save_total_limit: int = Field(2, gt=0)
    eval_accuracy_examples: int = Field(0, ge=0, description="also generate answers for this many validation "
                                        "examples (a fixed subset, spread over tasks) at every eval_steps and log "
                                        "their task accuracy; 0: off")
    early_stopping: EarlyStopping | None = Field(None, description="stop when a validation metric stops "
                                                   "improving; the saved adapter is the best evaluation's")


class GenerationSection(_Strict):
    split: Literal["train", "validation", "test"] = "test"
    max_examples: int | None = Field(None, gt=0)
    batch_size: int = Field(16, gt=0, le=MAX_BATCH)
    max_new_tokens: int | None = Field(None, gt=0, description="default: from the longest canonical answer per task")
    evaluate_base: bool = Field(True, description="also evaluate the base model before training")
    prompted: bool = Field(False, description="also evaluate the base model prompted through its chat template, "
                                              "in each of generation.prompting's ways (chat models only)")
    prompting: list[Literal["zero_shot", "k_shot", "hyper_bag", "hyper_cot"]] = Field(
        default_factory=lambda: ["zero_shot", "k_shot"], min_length=1,
        description="the prompted stages: zero_shot, k_shot, hyper_bag (rebuild the hypergraph in words, then "
                    "answer) and hyper_cot (hypergraph-specific step-by-step reasoning), after LLM4Hypergraph")
    reasoning_tokens: int = Field(256, gt=0, le=32768, description="new tokens a hyper_bag or hyper_cot answer may "
                                  "take (its reasoning included); generation stops at the end of the answer")
    shots: int = Field(3, ge=1, le=16, description="worked examples in a k-shot prompt, drawn from the training split")
    extra_splits: list[str] = Field(
        default_factory=list, description="also evaluate the trained model on these splits of the frozen set "
                                          "(data.frozen_eval), and 'unseen_encodings'")

    @field_validator("prompting")
    @classmethod
    def _unique_prompting(cls, value):
        if len(value) != len(set(value)):
            raise ValueError("each way of prompting may appear once")
        return value

    @field_validator("extra_splits")
    @classmethod
    def _unique_splits(cls, value):
        if len(value) != len(set(value)):
            raise ValueError("each split may appear once")
        return value


class EvalEntry(_Selector):
    name: str = Field(description="evaluator component, e.g. 'metrics.task_accuracy'")


class TrackingEntry(_Selector):
    name: str = Field(description="tracker component, e.g. 'trackers.wandb'")


class RewardEntry(_Selector):
    name: str = Field(description="reward component, e.g. 'metrics.correct'")
    weight: float = Field(1.0, description="its weight in the summed reward")


def _default_rewards() -> list:
    return [RewardEntry(name="metrics.correct"), RewardEntry(name="metrics.answer_format", weight=0.1)]


class RLSection(_Strict):
    """``[rl]``: reinforcement learning with verifiable rewards after (or instead of) supervised training: GRPO
    through TRL's ``GRPOTrainer``, rewarded by reward components that score each sampled completion."""

    method: Literal["grpo"] = "grpo"
    start_from: str = Field("", description="a run directory whose trained model the stage starts from (its "
                            "supervised training is then skipped); '': this run's model after its training")
    rewards: list[RewardEntry] = Field(default_factory=_default_rewards, min_length=1)
    max_steps: int = Field(100, gt=0, description="optimizer steps of the RL stage")
    batch_size: int = Field(4, gt=0, le=MAX_BATCH, description="questions per step; each is answered "
                            "num_generations times")
    num_generations: int = Field(8, ge=2, le=256, description="completions sampled per question (the group)")
    max_completion_length: int = Field(64, gt=0, le=32768, description="tokens a sampled completion may take")
    temperature: float = Field(1.0, gt=0, le=10)
    beta: float = Field(0.0, ge=0, description="KL coefficient against the starting model (0: no reference "
                        "model, as TRL's default)")
    learning_rate: float = Field(1e-5, gt=0)
    lr_scheduler: str = "constant"
    max_grad_norm: float = Field(1.0, gt=0)
    logging_steps: int = Field(5, gt=0)
    save_steps: int = Field(50, gt=0)
    save_total_limit: int = Field(1, gt=0)
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="default: the training seed")


class Recipe(_Strict):
    """A whole run: model, data, LoRA strategy, training, evaluation, tracking.

    ``model`` is None only in a data-only recipe (``odin data``, frozen sets)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    seed: int = Field(42, ge=0, le=MAX_SEED, description="fixes the dataset and its splits (and, by default, "
                      "training)")
    output_dir: str = "runs"
    model: ModelSection | None = None
    data: DataSection
    finetune: FinetuneSection = FinetuneSection()
    training: TrainingSection = TrainingSection()
    generation: GenerationSection = GenerationSection()
    rl: RLSection | None = None
    eval: list[EvalEntry] = Field(default_factory=list)
    tracking: list[TrackingEntry] = Field(default_factory=list)

    _path: Path | None = PrivateAttr(default=None)
    _warnings: list = PrivateAttr(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """What loading found worth a loud warning (e.g. model code allowed to run)."""
        return self._warnings

    @property
    def path(self) -> Path | None:
        """The recipe file this was loaded from (None when built from a dict)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    def located_at(self, path) -> "Recipe":
        """This recipe, recorded as read from ``path`` (relative paths in it resolve from there)."""
        self._path = Path(path) if path else None
        return self

    @property
    def training_seed(self) -> int:
        """The seed training uses: ``training.seed``, else the recipe's ``seed``."""
        return self.training.seed if self.training.seed is not None else self.seed

    def _fitting_prompt_tokens(self) -> int:
        """The prompt budget that leaves ``ANSWER_ROOM`` within the model's ``max_seq_length``."""
        return DEFAULT_PROMPT_TOKENS if self.model is None else max(1, self.model.max_seq_length - ANSWER_ROOM)

    @model_validator(mode="after")
    def _prompt_budget(self):
        if self.data.max_prompt_tokens is None:
            self.data.max_prompt_tokens = self._fitting_prompt_tokens()
        return self

    def prompt_budget_note(self) -> str | None:
        """What ``odin validate`` says when ``data.max_prompt_tokens`` leaves no room for the answer."""
        fits = self._fitting_prompt_tokens()
        if self.model is None or self.data.max_prompt_tokens <= fits:
            return None
        return (f"data.max_prompt_tokens = {self.data.max_prompt_tokens} leaves less than {ANSWER_ROOM} tokens for "
                f"the answer within model.max_seq_length = {self.model.max_seq_length}: prompts near the limit are "
                f"cut from training; {fits} fits (the default when the key is left out)")

    @field_validator("tracking")
    @classmethod
    def _unique_trackers(cls, value):
        names = [t.name for t in value]
        if len(names) != len(set(names)):
            raise ValueError("each tracker may appear once")
        return value

    def resolved(self) -> dict:
        """The fully resolved recipe (defaults and component options included) as plain data."""
        data = self.model_dump(mode="json", exclude_none=False)
        for key, section in (("model", self.model), ("finetune", self.finetune)):
            if section is not None:
                data[key] = section.resolved()
        data["data"] = self.data.resolved()
        data["eval"] = [e.resolved() for e in self.eval]
        data["tracking"] = [e.resolved() for e in self.tracking]
        if self.rl is not None:
            data["rl"]["rewards"] = [e.resolved() for e in self.rl.rewards]
        return data

    def component_sections(self):
        """(dotted key, kind, section) of every section that names a component, in recipe order.

        ``data.tasks`` entries naming a family or 'all' are not components and are left out."""
        if self.model is not None:
            yield "model", "model_loader", self.model
            yield "finetune", "lora_strategy", self.finetune
        for i, entry in enumerate(self.data.sources):
            yield f"data.sources.{i}", "source", entry
        for name, extra in self.data.extra_splits.items():
            for i, entry in enumerate(extra.sources or ()):
                yield f"data.extra_splits.{name}.sources.{i}", "source", entry
        for i, entry in enumerate(self.data.encodings):
            yield f"data.encodings.{i}", "encoder", entry
        for i, entry in enumerate(self.data.tasks):
            if entry.name not in ("all", "all+plugins") and entry.name not in TASK_FAMILIES:
                yield f"data.tasks.{i}", "task", entry
        if self.model is not None:
            for i, entry in enumerate(self.eval):
                yield f"eval.{i}", "evaluator", entry
            for i, entry in enumerate(self.tracking):
                yield f"tracking.{i}", "tracker", entry
            for i, entry in enumerate(self.rl.rewards if self.rl is not None else ()):
                yield f"rl.rewards.{i}", "reward", entry


#: the key of a component section that holds the component's name
SELECTOR_KEY = {ModelSection: "loader", FinetuneSection: "strategy"}


def selector_key(section) -> str:
    return SELECTOR_KEY.get(type(section), "name")


#: whole numbers in a recipe lie within these bounds (the widest a seed takes): beyond them is a typo that would
#: otherwise overflow in numpy or torch, or make a command loop for hours
INT_RANGE = (-(2**31), 2**32 - 1)


def check_numbers(data, file) -> None:
    """A RecipeError naming the key of the first NaN or infinity (TOML's nan, inf), or of a whole number outside
    ``INT_RANGE``, at any depth (plugins' options included)."""
    stack = [((), data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise RecipeError(f"expected a finite number, got {value}", file=file, key=".".join(map(str, where)))
        if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
            shown = str(value) if abs(value) < 10**30 else f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
            raise RecipeError(f"expected a whole number from {INT_RANGE[0]} to {INT_RANGE[1]}, got {shown}",
                              file=file, key=".".join(map(str, where)))
        if isinstance(value, dict):
            stack.extend(((*where, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*where, i), v) for i, v in enumerate(value))


def flat_keys(data, prefix="", out=None) -> dict:
    """``{dotted key: value}`` of nested recipe data (tables and arrays of tables flattened, ``sources.0.name``)."""
    out = {} if out is None else out
    if isinstance(data, dict):
        for key, value in data.items():
            flat_keys(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(data, list) and any(isinstance(v, dict) for v in data):
        for i, value in enumerate(data):
            flat_keys(value, f"{prefix}.{i}", out)
        if not data:
            out[prefix] = []
    else:
        out[prefix] = data
    return out
