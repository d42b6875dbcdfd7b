"""Find the processes of a CPU training run that this test started, to kill them the way a failure would."""

from __future__ import annotations

import http.client
import json
import urllib.request
from pathlib import Path

import psutil


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def trainer_process() -> psutil.Process | None:
    """The one ``recipes.train`` process among this process's descendants, if it is running."""
    trainers = [p for p in psutil.Process().children(recursive=True) if "recipes.train" in " ".join(_cmdline(p))]
    assert len(trainers) <= 1, f"expected at most one recipes.train among this test's processes, found {len(trainers)}"
    return trainers[0] if trainers else None


def _listening_addresses(process: psutil.Process) -> list[tuple[str, int]]:
    """(host, port) of each TCP socket ``process`` listens on; a wildcard address is reached on loopback."""
    try:
        connections = process.net_connections(kind="tcp")
    except psutil.Error:
        return []
    wildcard = {"0.0.0.0", "::", ""}
    listening = {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return sorted(("127.0.0.1" if ip in wildcard else ip, port) for ip, port in listening)


def _served_models(host: str, port: int) -> list[str]:
    """The model ids (and roots) that an OpenAI-compatible server at ``host:port`` lists; [] if it is not one."""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with urllib.request.urlopen(f"http://{netloc}/v1/models", timeout=5) as response:
            data = json.loads(response.read())["data"]
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):  # e.g. Ray's gRPC ports
        return []
    return [str(value) for model in data for value in (model.get("id"), model.get("root")) if value]


def vllm_server_actors() -> dict[psutil.Process, list[str]]:
    """The vLLM HTTP server actors among this process's descendants, each with the models it serves.

    verl's reward router answers for the judge too (it proxies every path), but it runs in a process forked from
    the trainer's task runner, not in a vLLM server actor (Ray titles those ``ray::CPUvLLMHttpServer``).
    """
    actors = {}
    for process in psutil.Process().children(recursive=True):
        if "vLLMHttpServer" in " ".join(_cmdline(process)):
            actors[process] = [m for host, port in _listening_addresses(process) for m in _served_models(host, port)]
    return actors


def vllm_servers_of(model: Path) -> list[psutil.Process]:
    """The vLLM server actors (see ``vllm_server_actors``) that serve ``model``, named by its path."""
    actors = vllm_server_actors()
    return [process for process, served in actors.items() if any(str(model) in name for name in served)]
