"""The crash harness's wait for a killed bot's last requests (bot/sandbox/settle.py)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bot.sandbox.settle import Handling, settle


class _Server:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.answered: list[str] = []
        self.handling = Handling(lambda request: request.path == "/wait")
        self.runner: web.AppRunner | None = None

    def busy(self) -> bool:
        return self.handling.busy()

    async def start(self) -> None:
        async def slow(_request: web.Request) -> web.Response:
            await self.gate.wait()
            self.answered.append("slow")
            return web.Response(text="ok")

        async def wait(_request: web.Request) -> web.Response:
            await asyncio.sleep(3600)  # a long poll nobody answers
            return web.Response(text="late")

        app = web.Application(middlewares=[self.handling.middleware])
        app.router.add_post("/slow", slow)
        app.router.add_get("/wait", wait)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()


async def _client_dies_during(server: _Server, path: str, method: str) -> None:
    """A client sends one request and vanishes (its socket reset) without the answer."""
    assert server.runner is not None
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.runner.addresses[0][1])
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.2)  # the request reached its handler
    writer.transport.abort()


@pytest.mark.asyncio
async def test_settle_waits_for_a_request_the_dead_client_left_being_handled() -> None:
    server = _Server()
    await server.start()
    assert server.runner is not None
    try:
        await _client_dies_during(server, "/slow", "POST")
        waiting = asyncio.create_task(settle(server))
        await asyncio.sleep(0.3)
        assert not waiting.done(), "settled while a request was still being handled"
        server.gate.set()
        await waiting
        assert server.answered == ["slow"]
    finally:
        await server.runner.cleanup()


@pytest.mark.asyncio
async def test_settle_does_not_wait_for_a_long_poll_whose_client_is_gone() -> None:
    server = _Server()
    await server.start()
    assert server.runner is not None
    try:
        await _client_dies_during(server, "/wait", "GET")
        await settle(server)  # would time out if the long poll counted
        assert not server.busy()
    finally:
        await server.runner.cleanup()
