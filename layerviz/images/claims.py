"""One builder per layer or chain, across processes and machines.

A ``Layer`` or ``Chain`` row is created in state ``building`` by the worker that will fill it;
the unique key (diff_id, chain ID) makes that creation the lock. The owner writes a heartbeat
as it goes and flips the row to ``ready`` when done. Everyone else either uses the ready row,
waits for the owner, or — once the owner is known dead — takes the row over and starts again.

An owner is dead when its heartbeat is older than ``LAYERVIZ_LEASE_SECONDS``, or at once when it
ran on this machine and its process is gone (a killed worker need not be waited for).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from layerviz.lib.errors import IngestError

from .models import BuildState, Claimed

M = TypeVar("M", bound=Claimed)


def _rows(model: type[M]) -> models.Manager[M]:
    # django-stubs types an abstract model's manager by the abstract class; the rows are M's.
    return cast("models.Manager[M]", model._default_manager)


class Outcome(enum.Enum):
    MINE = "mine"
    READY = "ready"
    BUSY = "busy"


@functools.cache
def _host() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()[:8]
    except OSError:
        boot = "noboot"
    return f"{socket.gethostname()}/{boot}"


def new_owner() -> str:
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != _host() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # a sibling claim of this very process is alive by definition
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def is_stale(row: Claimed) -> bool:
    if owner_is_dead(row.owner):
        return True
    lease = dt.timedelta(seconds=settings.LAYERVIZ_LEASE_SECONDS)
    return row.heartbeat_at is None or timezone.now() - row.heartbeat_at > lease


def claim(model: type[M], key: dict[str, str], owner: str, defaults: dict) -> tuple[Outcome, M]:
    """Create the row as ours, or report it ready or busy, or take it over from a dead owner.

    A row taken over still holds the dead owner's partial data: the caller must clear it.
    """
    for _ in range(5):
        try:
            with transaction.atomic():
                created = _rows(model).create(
                    **key,
                    **defaults,
                    state=BuildState.BUILDING,
                    owner=owner,
                    heartbeat_at=timezone.now(),
                )
            return Outcome.MINE, created
        except IntegrityError:
            pass
        row = _rows(model).filter(**key).first()
        if row is None:
            continue  # deleted between our insert and our read: try again
        if row.state == BuildState.READY:
            return Outcome.READY, row
        if row.owner == owner:
            return Outcome.MINE, row
        if is_stale(row):
            taken = (
                _rows(model)
                .filter(pk=row.pk, owner=row.owner, state=BuildState.BUILDING)
                .update(owner=owner, heartbeat_at=timezone.now())
            )
            if taken:
                row.owner = owner
                return Outcome.MINE, row
            continue
        return Outcome.BUSY, row
    raise IngestError(f"could not claim {model.__name__.lower()} {next(iter(key.values()))}")


def heartbeat(row: Claimed, owner: str) -> None:
    """Prove we are alive; fail if another worker decided we were not and took the row."""
    alive = (
        type(row)
        .objects.filter(pk=row.pk, owner=owner, state=BuildState.BUILDING)
        .update(heartbeat_at=timezone.now())
    )
    if not alive:
        raise IngestError(f"another worker took over {row} while this one was building it")


def publish(row: Claimed, owner: str, **fields: object) -> None:
    done = (
        type(row)
        .objects.filter(pk=row.pk, owner=owner, state=BuildState.BUILDING)
        .update(state=BuildState.READY, owner="", heartbeat_at=None, **fields)
    )
    if not done:
        raise IngestError(f"another worker took over {row} before it was finished")
    row.state = BuildState.READY


def wait_until_ready(
    model: type[M],
    pk: int,
    *,
    label: str,
    on_wait: Callable[[], None] | None = None,
    poll: float = 0.5,
) -> M | None:
    """Wait for another worker's row. Returns it when ready, None when its owner died."""
    while True:
        row = _rows(model).filter(pk=pk).first()
        if row is None:
            return None
        if row.state == BuildState.READY:
            return row
        if is_stale(row):
            return None
        if on_wait is not None:
            on_wait()
        time.sleep(poll)
