"""A process that stops when its parent dies (Linux's parent-death signal), for child servers.

`cqrs-es dev` runs its servers as children, and `cqrs-es command|query --workers N` runs N
uvicorn worker processes. If the parent is killed outright (SIGKILL), nothing else would stop
those children, and they would keep the port busy; with this, each gets SIGTERM instead and shuts
down gracefully. Elsewhere than on Linux these are no-ops.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["die_with_parent", "die_with_supervisor", "parent_death_hook"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Callable[..., Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., Any] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def parent_death_hook() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive SIGTERM when this process dies, else None.

    The C function is looked up here, in the parent: the child runs the returned closure
    between fork and exec, where importing or loading a library is unsafe.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    return lambda: _arm(prctl, parent)


def die_with_parent(parent: int) -> None:
    """From now on, receive SIGTERM when process `parent` (this one's parent) dies; exit at once
    if it already has."""
    prctl = _prctl()
    if prctl is not None:
        _arm(prctl, parent)


def _arm(prctl: Callable[..., Any], parent: int) -> None:
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def die_with_supervisor() -> None:
    """In a process started by `multiprocessing` (a uvicorn worker): `die_with_parent` for the
    process that started it."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid)
