"""Peak training memory from a model's shape, before any weights are loaded: pure arithmetic, no torch.

``estimate`` adds up what a training step keeps alive at its peak:

- **weights** at the load precision: 4-bit NF4 with double quantization (4.13 bits a parameter) for the
  linear layers of the blocks, the embeddings and output head in 16 bits (bitsandbytes and Unsloth keep them
  so); or 2 bytes (16-bit) or 4 bytes (fp32) a parameter;
- **trainable parameters**: LoRA matrices (r x (in + out) for each adapted linear layer) and full copies of
  ``modules_to_save``, kept in fp32 with their fp32 gradients; for full fine-tuning, gradients in the
  weights' dtype plus an fp32 master copy when the weights are 16-bit;
- **optimizer state**: AdamW's two moments, fp32 (8 bytes a trainable parameter) or 8-bit (2 bytes);
- **activations** at ``batch_size x seq_len`` tokens: without gradient checkpointing every layer's saved
  tensors (about 10h + 4kv + 5i values a token a layer: norms, projections, attention in/out, the MLP's gate,
  up, activation and product); with it, each layer's input (h values a token) plus one layer's tensors while
  it is recomputed; attention scores (heads x s x s per sequence) where the attention is not a fused kernel
  (a CPU); and the logits with the loss (tokens x vocab: 16-bit logits, fp32 upcast, fp32 gradient, or the
  16-bit logits alone with Unsloth's fused cross-entropy on a GPU);
- **runtime**: the CUDA context and the caching allocator's slack on a GPU; the Python process with torch,
  transformers and datasets imported on a CPU.

The figures are estimates: docs/memory.md compares them with measured peaks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GB = 1024**3
NF4_BYTES = 4.127 / 8  # 4-bit NF4 + double-quantized absmax (bitsandbytes, block 64)
WEIGHT_BYTES = {"4bit": NF4_BYTES, "16bit": 2.0, "fp32": 4.0}
#: the CUDA context (cuBLAS, kernels) and the CPU process's libraries, bytes
CUDA_CONTEXT = 0.6 * GB
CPU_RUNTIME = 1.0 * GB  # measured: importing torch, transformers, trl, peft, datasets (or unsloth) is 0.95 GB RSS
#: the caching allocator's reserve over the tensors' peak on a GPU
CUDA_ALLOCATOR_SLACK = 0.15
#: saved values a token a layer without checkpointing, in multiples of hidden, kv width and MLP width
ACT_HIDDEN, ACT_KV, ACT_MLP = 10, 4, 5
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "qkv_proj",
               "gate_up_proj")


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder-only transformer (Llama, Mistral, Phi-3, Qwen2) that size its memory."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    head_dim: int | None = None
    architecture: str = "llama"
    source: str = ""  # where the shape came from: "config.json", "gguf", "scratch options", "known shapes"

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * (self.head_dim or self.hidden_size // self.num_heads)

    @property
    def q_dim(self) -> int:
        return self.num_heads * (self.head_dim or self.hidden_size // self.num_heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each projection of one block, under both the split and fused names."""
        h, kv, q, i = self.hidden_size, self.kv_dim, self.q_dim, self.intermediate_size
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h),
                "qkv_proj": (h, q + 2 * kv), "gate_up_proj": (h, 2 * i)}

    def block_linear_parameters(self) -> int:
        """Parameters of every block's linear layers (fused or split: the same count)."""
        s = self.linear_shapes()
        per_layer = sum(a * b for name, (a, b) in s.items() if name not in ("qkv_proj", "gate_up_proj"))
        return per_layer * self.num_layers

    def embedding_parameters(self) -> int:
        """Input embeddings plus the output head (once when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    def norm_parameters(self) -> int:
        return (2 * self.num_layers + 1) * self.hidden_size

    def parameters(self) -> int:
        """All parameters, as ``model.num_parameters()`` counts them (tied weights once)."""
        return self.block_linear_parameters() + self.embedding_parameters() + self.norm_parameters()

    def module_parameters(self, name: str) -> int:
        """Parameters of a whole module named in ``modules_to_save`` (embed_tokens, lm_head), else 0."""
        if name in ("embed_tokens", "lm_head"):
            return self.vocab_size * self.hidden_size
        return 0

    def lora_parameters(self, r: int, target_modules) -> int:
        """LoRA A and B matrices, r x (in + out), for each targeted projection of every block."""
        shapes = self.linear_shapes()
        return sum(r * sum(shapes[m]) for m in target_modules if m in shapes) * self.num_layers


@dataclass(frozen=True)
class TrainingSetup:
    """How a run trains: what the recipe and the device decide."""

    batch_size: int
    seq_len: int
    precision: str = "16bit"  # weights: 4bit, 16bit or fp32
    full_finetuning: bool = False
    lora_r: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    modules_to_save: tuple[str, ...] = ()
    gradient_checkpointing: bool = True
    optimizer_8bit: bool = False
    device: str = "cuda"  # cuda or cpu
    activation_bytes: int = 2  # 2 with bf16/fp16 mixed precision, 4 in fp32
    fused_attention: bool = True  # flash / memory-efficient attention: no s x s scores kept
    fused_loss: bool = False  # Unsloth's fused cross-entropy on a GPU


@dataclass
class Estimate:
    shape: ModelShape
    setup: TrainingSetup
    parameters: int
    trainable_parameters: int
    bytes: dict = field(default_factory=dict)  # component -> bytes

    @property
    def total(self) -> float:
        return float(sum(self.bytes.values()))

    def as_dict(self) -> dict:
        return {"shape": asdict(self.shape), "setup": asdict(self.setup), "parameters": self.parameters,
                "trainable_parameters": self.trainable_parameters,
                "gb": {k: round(v / GB, 3) for k, v in self.bytes.items()}, "total_gb": round(self.total / GB, 3)}


def weight_bytes(shape: ModelShape, precision: str) -> float:
    if precision == "4bit":  # blocks' linear layers in NF4; embeddings, head and norms in 16 bits
        return shape.block_linear_parameters() * NF4_BYTES + (shape.embedding_parameters()
                                                              + shape.norm_parameters()) * 2.0
    return shape.parameters() * WEIGHT_BYTES[precision]


def activation_bytes(shape: ModelShape, setup: TrainingSetup, checkpointing: bool) -> dict:
    """Saved activations, attention scores and logits of one forward/backward pass, bytes."""
    tokens = setup.batch_size * setup.seq_len
    b = setup.activation_bytes
    per_layer = tokens * b * (ACT_HIDDEN * shape.hidden_size + ACT_KV * shape.kv_dim
                              + ACT_MLP * shape.intermediate_size)
    if setup.lora_r and not setup.full_finetuning:
        per_layer += tokens * b * setup.lora_r * len(set(setup.target_modules) & set(PROJECTIONS))
    scores = 0.0 if setup.fused_attention else 2.0 * setup.batch_size * shape.num_heads * setup.seq_len ** 2 * b
    if checkpointing:
        layers = tokens * b * shape.hidden_size * shape.num_layers + per_layer + scores
    else:
        layers = (per_layer + scores) * shape.num_layers
    logit_bytes = b if setup.fused_loss else b + 4 + 4
    return {"activations": layers, "logits": float(tokens * shape.vocab_size * logit_bytes)}


def estimate(shape: ModelShape, setup: TrainingSetup) -> Estimate:
    """Peak memory of training ``shape`` as ``setup`` says, by component (bytes)."""
    total = shape.parameters()
    out = {"weights": weight_bytes(shape, setup.precision)}
    adam = 2.0 if setup.optimizer_8bit else 8.0
    if setup.full_finetuning:
        trainable = total
        grads = WEIGHT_BYTES[setup.precision if setup.precision != "4bit" else "16bit"]
        master = 4.0 if setup.precision == "16bit" else 0.0
        out["gradients"] = trainable * grads
        out["master_weights"] = trainable * master
    else:
        lora = shape.lora_parameters(setup.lora_r, setup.target_modules)
        saved = sum(shape.module_parameters(m) for m in set(setup.modules_to_save))
        trainable = lora + saved
        out["lora"] = trainable * 4.0  # fp32 adapters and fp32 copies of modules_to_save
        out["gradients"] = trainable * 4.0
    out["optimizer"] = trainable * adam
    out.update(activation_bytes(shape, setup, setup.gradient_checkpointing))
    tensors = sum(out.values())
    if setup.device == "cuda":
        out["runtime"] = CUDA_CONTEXT + CUDA_ALLOCATOR_SLACK * tensors
    else:
        out["runtime"] = CPU_RUNTIME
    return Estimate(shape=shape, setup=setup, parameters=total, trainable_parameters=int(trainable), bytes=out)


def largest_fitting(high: int, fits) -> int:
    """The largest ``n`` in 1..``high`` with ``fits(n)`` (memory grows with ``n``), or 1 when none fits: a
    bisection, so a huge batch size costs a few dozen estimates, not one per value."""
    low = 1
    if not fits(low):
        return 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def advice(est: Estimate, available: float) -> list[str]:
    """What to change so that ``est`` fits in ``available`` bytes, most effective first; [] when it fits."""
    if est.total <= available:
        return []
    setup, shape = est.setup, est.shape
    tips = []

    def total_with(**change) -> float:
        return estimate(shape, TrainingSetup(**{**asdict(setup), **change})).total

    if not setup.gradient_checkpointing:
        tips.append((total_with(gradient_checkpointing=True), "turn on gradient checkpointing "
                     "(finetune.gradient_checkpointing = \"unsloth\")"))
    if setup.batch_size > 1:
        batch = largest_fitting(setup.batch_size // 2, lambda b: total_with(batch_size=b) <= available)
        steps = max(1, setup.batch_size // batch)
        tips.append((total_with(batch_size=batch), f"lower training.batch_size to {batch} (raise "
                     f"gradient_accumulation_steps x{steps} to keep the effective batch)"))
    if setup.precision != "4bit" and setup.device == "cuda" and not setup.full_finetuning:
        tips.append((total_with(precision="4bit"), "load the base in 4 bits (finetune.strategy = \"finetune.qlora\")"))
    if setup.seq_len > 256:
        for seq in (setup.seq_len // 2, setup.seq_len // 4):
            if total_with(seq_len=seq) <= available or seq == setup.seq_len // 4:
                tips.append((total_with(seq_len=seq), f"shorten sequences to {seq} tokens (model.max_seq_length "
                             "and data.max_prompt_tokens)"))
                break
    if setup.full_finetuning:
        tips.append((total_with(full_finetuning=False), "train LoRA adapters instead of every weight "
                     "(finetune.strategy = \"finetune.lora\")"))
    tips.sort(key=lambda t: t[0])
    return [f"{text}: about {value / GB:.1f} GB" + ("" if value <= available else " (not enough alone)")
            for value, text in tips]
