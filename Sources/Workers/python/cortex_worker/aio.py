"""A private asyncio loop per thread, for the rare async pieces (async predict, async StreamingResponse
iterators, starlette background tasks). asyncio is imported only when one of them shows up."""
from __future__ import annotations

import threading

_local = threading.local()


def _loop():
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        import asyncio
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


def run_coroutine(coro):
    return _loop().run_until_complete(coro)


async def _drain(aiter) -> list:
    out = []
    async for chunk in aiter:
        out.append(chunk)
    return out


def drain_async_iterable(aiter) -> list:
    return run_coroutine(_drain(aiter))
