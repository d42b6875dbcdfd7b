"""A real HTTP judge on 127.0.0.1 that answers from a handler, in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from launch.process import LOOPBACK, free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(content: str) -> web.Response:
    return web.json_response({"choices": [{"message": {"role": "assistant", "content": content}}]})


def fixed_judge(conciseness: int, relevance: int) -> Handler:
    """A judge that gives every response the same scores, whatever it says."""

    async def handler(request: web.Request) -> web.Response:
        return reply(f'{{"conciseness":{conciseness},"relevance":{relevance}}}')

    return handler


@asynccontextmanager
async def local_server(handler: Handler) -> AsyncIterator[str]:
    """A real HTTP server on 127.0.0.1 in the running loop; yields its OpenAI-style root URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, LOOPBACK, port).start()
    try:
        yield f"http://{LOOPBACK}:{port}/v1"
    finally:
        await runner.cleanup()
