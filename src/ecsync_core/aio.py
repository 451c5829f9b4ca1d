"""
Running a service's coroutine to its end from plain code: the CLI, a script, or a notebook.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from collections.abc import Coroutine
from typing import Any, TypeVar


T = TypeVar("T")


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """
    ``asyncio.run(coro)``; from inside a running event loop (Jupyter runs one) on a thread with its own loop,
    where ``asyncio.run`` would refuse to start.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ecsync") as pool:
        return pool.submit(asyncio.run, coro).result()
