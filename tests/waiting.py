"""Waiting for something a test expects, without guessing how long it takes."""

from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition", detail: Optional[Callable[[], str]] = None) -> T:
    """Returns the predicate's first truthy value; fails after `timeout` seconds, saying
    what was awaited (and `detail()`, e.g. the screen, if given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail else ""
            raise AssertionError(f"timed out waiting for {what}{extra}")
        time.sleep(0.02)
