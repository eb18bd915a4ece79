"""Worker processes that read layers from files on this machine, a layer at a time each.

Walking a tar and hashing its bytes is CPU work in Python, so threads would take turns on the
GIL; processes read layers side by side. A worker opens the file itself and hashes exactly the
bytes it parses (``layer.scan_file_range``), so verification is as strict as reading in the
caller's process. What comes back is small: the scan's figures and the entries already packed.

The workers are plain ``python -c`` processes that import only ``lib/`` (never Django, never
the caller's ``__main__``, which ``multiprocessing``'s spawn would run again); jobs and results
go as pickles over their stdin and stdout. ``LayerReaders.read`` returns a
``concurrent.futures.Future``, so waiting for them is ``concurrent.futures.wait`` with a
timeout.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from .errors import IngestError

ROOT = str(Path(__file__).resolve().parents[2])
_LENGTH = struct.Struct("<Q")
_WORKER = (
    "import sys; sys.path.insert(0, sys.argv[1]); from layerviz.lib.readers import serve; serve()"
)


def cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - macOS


def _send(stream: Any, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: Any) -> Any:  # whatever the other end pickled
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)  # our own worker, over our own pipe


def serve() -> None:
    """A worker's loop: read a job, run it, write the result, until stdin closes."""
    from .layer import scan_file_range

    jobs, results = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            args, kwargs = _receive(jobs)
        except EOFError:
            return
        try:
            outcome: tuple[str, object] = ("ok", scan_file_range(*args, **kwargs))
        except BaseException as exc:  # every failure goes back to the caller, by name
            outcome = ("error", exc)
        try:
            _send(results, outcome)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(results, ("error", IngestError(f"{type(outcome[1]).__name__}: {outcome[1]}")))


class LayerReaders:
    """``read(where, digest=..., size=..., limits=...)`` runs ``layer.scan_file_range`` in a
    worker process; the future gives ``(LayerScan, packed batches)`` or raises its error."""

    def __init__(self, workers: int) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER, ROOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            self._procs.append(proc)
            thread = threading.Thread(target=self._feed, args=(proc,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def __enter__(self) -> LayerReaders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=exc[0] is None, cancel_futures=True)

    def read(self, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        if self._closed:
            raise RuntimeError("the layer readers are shut down")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((future, args, kwargs))
        return future

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        """Hand this worker one job at a time, and pass its answers to the futures."""
        while True:
            item = self._jobs.get()
            if item is None:
                return
            future, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                _send(proc.stdin, (args, kwargs))
                status, value = _receive(proc.stdout)
            except (EOFError, OSError, ValueError):  # the process is gone (or was stopped)
                try:
                    code = proc.wait(timeout=10)  # its pipe closed first: let it be reaped
                except subprocess.TimeoutExpired:
                    code = None
                future.set_exception(
                    IngestError(f"a layer reader process stopped (exit status {code})")
                )
                return
            if status == "ok":
                future.set_result(value)
            else:
                future.set_exception(value)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers: after their current layer, or (``wait=False``) at once, since a
        layer half read is of no use to anyone."""
        if self._closed:
            return
        self._closed = True
        if cancel_futures:
            while True:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in self._procs:
            self._jobs.put(None)
        if not wait:
            for proc in self._procs:
                proc.kill()
        for thread in self._threads:
            thread.join()
        for proc in self._procs:
            # Both pipes are there: every worker is started with stdin and stdout piped.
            assert proc.stdin is not None and proc.stdout is not None
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
            proc.wait()
            proc.stdout.close()


def readers_for(layers: int, total_bytes: int, *, min_bytes: int) -> LayerReaders | None:
    """Workers for reading ``layers`` layers of ``total_bytes``, or None when reading them in
    this process is as quick (one layer, fewer than ``min_bytes``, one CPU)."""
    workers = min(layers, cpus(), 4)
    if workers < 2 or total_bytes < min_bytes:
        return None
    try:
        return LayerReaders(workers)
    except OSError:
        return None
