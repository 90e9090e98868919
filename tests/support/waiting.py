"""Waiting on a condition with a deadline: the one way tests wait for something that happens elsewhere."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], deadline: float = 10.0, message: str | Callable[[], str] = "",
               interval: float = 0.02) -> T:
    """Call `condition` until it returns something truthy, and return that; fail the test with `message`
    (a string, or a function giving one, for the state at the time) once `deadline` seconds have passed."""
    give_up = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= give_up:
            said = message() if callable(message) else message
            raise AssertionError(f"not met within {deadline:g}s: {said or condition}")
        time.sleep(interval)
