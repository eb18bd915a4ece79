"""Hashing on threads of their own, so that verifying a layer uses both cores.

A layer is hashed twice: the tar stream for its diff_id (and, when compressed, the blob for its
digest), and every regular file for its content hash. ``hashlib`` releases the GIL while it
hashes a buffer of 2 KiB or more, so these can run beside the Python code that walks the tar:
the stream hashes in ``ThreadedHash``, the big files in a ``FileHashes`` worker. Small files
are hashed where they are read: handing them over would cost more than hashing them.

Buffers handed over must not change afterwards: ``bytes`` objects, or views of them.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from typing import Any

# Files at least this big are hashed on the worker thread.
THREADED_FILE_BYTES = 64 * 1024
# A hashing thread may fall this far behind before the reader waits for it.
MAX_PENDING = 64 * 1024 * 1024

_STOP = object()


class _Worker:
    """One thread running the updates it is handed, in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._room = threading.Condition()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="layerviz-hash")
        self._thread.start()

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            update, data = item
            if update is None:
                data.set()  # a barrier: everything before it is done
                continue
            try:
                update(data)
            except BaseException as exc:  # surfaced by the next wait()
                self._error = exc
            size = len(data)
            with self._room:
                self._pending -= size
                if self._pending <= MAX_PENDING:
                    self._room.notify()

    def submit(self, update: Callable[[Any], object], data: bytes | memoryview) -> None:
        size = len(data)
        with self._room:
            self._pending += size
            while self._pending > MAX_PENDING + size:
                self._room.wait()
        self._queue.put((update, data))

    def wait(self) -> None:
        done = threading.Event()
        self._queue.put((None, done))
        done.wait()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()


class ThreadedHash:
    """A hashlib object whose updates run on a thread of their own."""

    def __init__(self, name: str = "sha256") -> None:
        self.name = name
        self._hash = hashlib.new(name)
        self._worker: _Worker | None = _Worker()
        self._digest: bytes | None = None

    def update(self, data: bytes | memoryview) -> None:
        if self._worker is None:
            raise ValueError("update after the digest was taken")
        self._worker.submit(self._hash.update, data)

    def _finish(self) -> bytes:
        if self._digest is None:
            worker, self._worker = self._worker, None
            if worker is not None:
                try:
                    worker.wait()
                finally:
                    worker.close()
            self._digest = self._hash.digest()
        return self._digest

    def digest(self) -> bytes:
        return self._finish()

    def hexdigest(self) -> str:
        return self._finish().hex()

    def close(self) -> None:
        """Stop the thread (after an error: the digest is not needed)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()


class FileHashes:
    """sha256 of many files: small ones at once, big ones on a worker thread.

    ``start(size)`` gives a hasher for a file and the function that feeds it its data.
    """

    def __init__(self) -> None:
        self._worker: _Worker | None = None

    def start(self, size: int) -> tuple[Any, Callable[[memoryview], object], bool]:
        """A hasher for a file of ``size`` bytes, the function to feed it, and whether it is
        hashed on the worker (then its digest is ready only after ``settle()``)."""
        h = hashlib.sha256()
        if size < THREADED_FILE_BYTES:
            return h, h.update, False
        if self._worker is None:
            self._worker = _Worker()
        submit, update = self._worker.submit, h.update
        return h, lambda data: submit(update, data), True

    def settle(self) -> None:
        """Wait until every file handed to the worker is hashed."""
        if self._worker is not None:
            self._worker.wait()

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
