"""Awaiting storage calls side by side, with nothing left running when one fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar, overload

A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")


@overload
async def side_by_side(a: Awaitable[A], b: Awaitable[B], /) -> tuple[A, B]: ...
@overload
async def side_by_side(*calls: Awaitable[T]) -> tuple[T, ...]: ...


async def side_by_side(*calls: Awaitable[Any]) -> Any:
    """The results of `calls`, run at once. If one fails, the others still run to their
    end before its error is raised as it is (the retry policy reads its type): a write
    that outlived its stage could be copying from a temporary folder already removed.
    The first failure in argument order is the one raised."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return tuple(results)
