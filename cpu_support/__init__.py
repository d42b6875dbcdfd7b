"""What makes the GPU stack (verl, vLLM, Ray) run on a CPU-only machine, kept apart from the science.

``setup_env`` installs the two compatibility shims (torchvision ops, the ``vllm`` distribution name) and ``check``
proves the result: imports, verl seeing vLLM, vLLM choosing its CPU platform, Qwen2.5-VL's processor loading.
"""
