"""
Serving the emulators: one uvicorn server per emulator on 127.0.0.1, all in one process and one event loop.

One process means nothing to leave behind: SIGINT or SIGTERM stops every server and the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket

from collections.abc import Callable, Generator, Mapping

import attrs
import uvicorn

from starlette.types import ASGIApp, Receive, Scope, Send

from ecsync_core.sandbox.harness import DroppedConnection


LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3


def bind_loopback() -> socket.socket:
    """A listening socket on 127.0.0.1 at a free port the kernel picks; no race between picking and binding."""
    # IPPROTO_TCP spelt out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP, and
    # accepted sockets inherit it. With proto 0 every answer waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def with_real_drops(app: ASGIApp) -> ASGIApp:
    """
    Turn the harness's ``DroppedConnection`` into a real cut connection under uvicorn.

    ASGI has no message for "close without answering": uvicorn answers 500 when an app raises before its
    response starts. So we abort the connection's transport ourselves; uvicorn's h11 protocol (pinned in
    ``_config``) hands the app its cycle's bound ``send``, which holds that transport.
    """

    async def dropping(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except DroppedConnection:
            if not await _cut(send):
                raise  # an unknown server: let it answer 500 rather than pretend
        except asyncio.CancelledError:
            # uvicorn cancels only at shutdown, a request a delay fault still holds: cut it, as a mall going
            # down would, rather than have the cancellation logged as the app's error with its traceback.
            if not await _cut(send):
                raise

    return dropping


async def _cut(send: Send) -> bool:
    """Abort the connection *send* answers on; False where the server is not one whose transport we can reach."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.Transport):
        return False
    transport.abort()
    # Let uvicorn see the connection lost, so it does not try to answer on the dead socket.
    await asyncio.sleep(0)
    return True


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the signals to us: several servers share one process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        with_real_drops(app),
        http="h11",
        lifespan="off",
        ws="none",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=True,
        # A request held by a delay fault (up to minutes) would otherwise keep Ctrl-C waiting for it.
        timeout_graceful_shutdown=STOP_TIMEOUT_S,
    )


@attrs.define
class Servers:
    """
    The listening sockets and their servers, one per mall code.

    Bind first (``bind``), so the URLs are known before anything is served, then ``serve``.
    """

    apps: Mapping[str, ASGIApp]
    sockets: dict[str, socket.socket] = attrs.field(factory=dict)
    servers: dict[str, uvicorn.Server] = attrs.field(factory=dict)

    @classmethod
    def bind(cls, apps: Mapping[str, ASGIApp]) -> Servers:
        servers = cls(apps)
        try:
            for code in apps:
                servers.sockets[code] = bind_loopback()
        except OSError:
            servers.close()
            raise
        return servers

    @property
    def urls(self) -> dict[str, str]:
        return {code: url_of(sock) for code, sock in self.sockets.items()}

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()

    def stop(self) -> None:
        for server in self.servers.values():
            server.should_exit = True

    async def serve(self, stop: asyncio.Event, on_ready: Callable[[], None]) -> None:
        """
        Serve until *stop* is set; call *on_ready* once every server listens.

        Raises:
            RuntimeError: when a server fails to start within ``STARTUP_TIMEOUT_S``.
        """
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            for code, app in self.apps.items():
                server = self.servers[code] = _Server(_config(app))
                tasks[code] = asyncio.create_task(server.serve(sockets=[self.sockets[code]]), name=code)
            await self._wait_started(tasks)
            on_ready()
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([stopping, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            for task in done:
                if task is not stopping and task.exception() is not None:
                    raise RuntimeError(f"the {task.get_name()} emulator stopped: {task.exception()}")
        finally:
            self.stop()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            self.close()

    async def _wait_started(self, tasks: Mapping[str, asyncio.Task[None]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT_S
        while not all(s.started for s in self.servers.values()):
            for code, task in tasks.items():
                if task.done():
                    why = task.exception() if not task.cancelled() else "cancelled"
                    raise RuntimeError(f"the {code} emulator did not start: {why}")
            if loop.time() > deadline:
                raise RuntimeError(f"the emulators did not start within {STARTUP_TIMEOUT_S:g} s")
            await asyncio.sleep(0.01)


def stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Set *stop* on SIGINT and SIGTERM; returns the function that puts the default handlers back."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)

    def restore() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)

    return restore
