"""A server as a child process in its own process group: started with a log, ready when an HTTP URL answers.

Stopping ends the whole group, so a server never outlives its owner with helper processes left behind; a server
that exits during start-up fails at once with the tail of its log instead of a time-out.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    """The server exited or did not become ready in time; the message holds its log's tail."""


def free_port(host: str = LOOPBACK) -> int:
    """An unused TCP port on ``host``, from the kernel's ephemeral range (outside Ray's worker ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def live_group_members(pgid: int) -> list[int]:
    """PIDs of the process group's members that are not zombies (Linux ``/proc``; empty elsewhere)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may contain spaces, so split after its closing parenthesis
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


class ManagedServer:
    """Base for servers we launch: subclasses give ``command()`` and ``ready_url()``; this does the lifecycle."""

    name = "server"

    def __init__(self, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_path = Path(log_path)
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready_url(self) -> str:
        raise NotImplementedError

    def _ready_headers(self) -> dict[str, str]:
        return {}

    def start(self, timeout_s: float = 300.0) -> Self:
        """Launch the process and block until ``ready_url()`` answers 200."""
        if self.process is not None:
            raise RuntimeError(f"{self.name} already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {self.process.returncode} during start-up; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                request = urllib.request.Request(self.ready_url(), headers=self._ready_headers())
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise ServerStartError(
            f"{self.name} not ready after {timeout_s:.0f} s; log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``, and reap the leader."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        signal_group(process.pid, signal.SIGKILL)  # the leader's stragglers too
        process.wait()
        deadline = time.monotonic() + 5.0
        while live_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> Self:
        return self.start() if self.process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
