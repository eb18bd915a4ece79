"""One builder per layer or chain, across processes and machines; and what an ingest relies on.

A ``Layer`` or ``Chain`` row is created in state ``building`` by the worker that will fill it;
the unique key (diff_id, chain ID) makes that creation the lock. The owner writes a heartbeat
as it goes and flips the row to ``ready`` when done. Everyone else either uses the ready row,
waits for the owner, or — once the owner is known dead — takes the row over and starts again.

An owner is dead when its heartbeat is older than ``LAYERVIZ_LEASE_SECONDS``, or at once when it
ran on this machine and its process is gone (a killed worker need not be waited for).

A ready row an ingest relies on (one it found ready, waited for or published itself) is
*leased* until its image is saved: a ``Lease`` row (owner, heartbeat) taken in the same
transaction that checks, under a row lock, that the row is still there and ready (``lease``);
a row found being built by another worker is leased too, before it is waited for.
``deletion.delete_unused`` takes the same row locks before it looks for leases, so a delete or
an undo either sees the lease and keeps the row, or removes the row first — and then the ingest
finds it missing and claims and indexes it again. So no ingest fails because of a concurrent
delete or undo. An undo that keeps a row it was building for that reason gives up its claim on
it, so the waiting ingest takes it over at once. (PostgreSQL: ``SELECT … FOR UPDATE``; SQLite:
every transaction is ``IMMEDIATE`` and holds the database's write lock.) Leases are given up
once the image is saved (its ``ImageLayer`` rows hold what it uses) or the ingest fails; those
of a dead ingest lapse as its claims do and are ignored.
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
from typing import Protocol, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from layerviz.lib.errors import IngestError

from .models import BuildState, Claimed, Lease

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


def host() -> str:
    """This machine as an owner names it: host name and boot (a pid is only unique within one)."""
    return _host()


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


class Owned(Protocol):
    """A claim, a lease or a job: something a worker holds while it lives."""

    @property
    def owner(self) -> str: ...

    @property
    def heartbeat_at(self) -> dt.datetime | None: ...


def is_stale(row: Owned) -> bool:
    """Whether the owner of ``row`` (a claim, a lease, a job) is dead."""
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
            if lease(model, row.pk, owner):
                return Outcome.READY, row
            continue  # deleted meanwhile: claim it anew
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
        # Leased while still building: should its builder fail right after making it ready,
        # its undo keeps it for us, who will wait for it.
        if not lease(model, row.pk, owner, ready=False):
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
    """Make our row ready, leased to us: it is not in an image yet, and another ingest's undo
    that once created it must not take it away."""
    with transaction.atomic():
        done = (
            type(row)
            .objects.filter(pk=row.pk, owner=owner, state=BuildState.BUILDING)
            .update(state=BuildState.READY, owner="", heartbeat_at=None, **fields)
        )
        if not done:
            raise IngestError(f"another worker took over {row} before it was finished")
        _add_lease(type(row), row.pk, owner)
    row.state = BuildState.READY


def lease(model: type[Claimed], pk: int, owner: str, *, ready: bool = True) -> bool:
    """Hold the row ``pk`` (ready, unless not ``ready``) for ``owner`` until it gives its leases
    up; False when the row is no longer there or not ready (the caller indexes it itself)."""
    with transaction.atomic():
        # The row lock orders us against delete_unused, which locks before it reads leases.
        rows = _rows(model).select_for_update().filter(pk=pk)
        if ready:
            rows = rows.filter(state=BuildState.READY)
        found = list(rows.values_list("pk", flat=True))
        if not found:
            return False
        _add_lease(model, pk, owner)
    return True


def leased(model: type[M], key: dict[str, str], owner: str) -> M | None:
    """The ready row ``key``, leased for ``owner``; None when there is none."""
    row = _rows(model).filter(**key, state=BuildState.READY).first()
    if row is None or not lease(model, row.pk, owner):
        return None
    return row


def _add_lease(model: type[Claimed], pk: int, owner: str) -> None:
    Lease.objects.create(owner=owner, heartbeat_at=timezone.now(), **{_lease_field(model): pk})


def _lease_field(model: type[Claimed]) -> str:
    return f"{model._meta.model_name}_id"


def beat_leases(owner: str) -> None:
    Lease.objects.filter(owner=owner).update(heartbeat_at=timezone.now())


def release(owner: str) -> None:
    """Give up every lease of ``owner`` (its image is saved, or it failed)."""
    Lease.objects.filter(owner=owner).delete()


def live_leases(model: type[Claimed], pks: set[int], *, besides: str = "") -> set[int]:
    """Of the rows ``pks``, those a live lease not of ``besides`` holds; dead leases on them
    are removed on the way."""
    field = _lease_field(model)
    held: set[int] = set()
    dead = []
    for row in Lease.objects.filter(**{f"{field}__in": pks}).exclude(owner=besides):
        if is_stale(row):
            dead.append(row.pk)
        else:
            held.add(getattr(row, field))
    Lease.objects.filter(pk__in=dead).delete()
    return held


def wait_until_ready(
    model: type[M],
    pk: int,
    *,
    label: str,
    owner: str,
    on_wait: Callable[[], None] | None = None,
    poll: float = 0.5,
) -> M | None:
    """Wait for another worker's row. Returns it when ready (leased for ``owner``), None when
    its owner died or it is gone (the caller claims it again)."""
    while True:
        row = _rows(model).filter(pk=pk).first()
        if row is None:
            return None
        if row.state == BuildState.READY:
            return row if lease(model, pk, owner) else None
        if is_stale(row):
            return None
        if on_wait is not None:
            on_wait()
        time.sleep(poll)
