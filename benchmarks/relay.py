"""A TCP relay on loopback that delays data by a fixed round-trip time.

Each byte is held back ``rtt / 2`` in each direction, so a request and its answer cost one
``rtt`` more than without the relay; TCP's own handshake is not delayed (as the issue's
method says: a new TLS connection then costs two round trips, its handshake and its first
request).  Order is kept per direction.  One thread runs an asyncio loop for all connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator


class DelayRelay:
    def __init__(self, upstream_host: str, upstream_port: int, rtt: float) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rtt = rtt
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy *reader* to *writer*, each chunk written ``rtt / 2`` after it was read."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        delay = self.rtt / 2

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + delay, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.CancelledError):
            sender.cancel()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

    def start(self) -> DelayRelay:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.call_later(0.1, self._loop.stop)  # let the cancellations run

        self._loop.call_soon_threadsafe(close)
        self._thread.join(timeout=10)


@contextlib.contextmanager
def delayed(upstream_host: str, upstream_port: int, rtt: float) -> Iterator[DelayRelay]:
    relay = DelayRelay(upstream_host, upstream_port, rtt).start()
    try:
        yield relay
    finally:
        relay.stop()
