"""Uploaded archives: streamed to disk under two caps, never extracted.

Django already streams large uploads to temporary files. ``CappedUploadHandler`` stops a request
as soon as it passes ``LAYERVIZ_MAX_UPLOAD_BYTES``, instead of after writing it all, and as soon
as the uploads on disk and not yet indexed (being received, or waiting for a worker) would pass
``LAYERVIZ_MAX_UPLOADS_IN_FLIGHT_BYTES`` in total, so that many uploads at once cannot fill the
disk either. Those bytes are counted on disk, so every process serving uploads sees the same
total.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

TOO_LARGE = "too-large"
DISK_BUSY = "disk-busy"
RECOUNT_EVERY = 16 * 1024**2  # bytes received between two counts of what is on disk


def in_flight_bytes() -> int:
    """Bytes of uploads on disk not indexed yet: those being received (Django's temporary
    files) and those saved for a worker. A saved upload is a second name of its temporary
    file (``save_upload``), so files are counted once each."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder in (Path(settings.FILE_UPLOAD_TEMP_DIR), Path(settings.MEDIA_ROOT)):
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # finished (or deleted) while we looked
            if entry.is_file(follow_symlinks=False) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


class CappedUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.received = 0
        self.declared = 0
        self.next_count = 0

    def handle_raw_input(self, input_data: Any, META: Any, content_length: int, *args: Any) -> None:
        self.declared = max(content_length or 0, 0)
        super().handle_raw_input(input_data, META, content_length, *args)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.LAYERVIZ_MAX_UPLOAD_BYTES:
            self._refuse(TOO_LARGE)
        if self.received >= self.next_count:
            self.next_count = self.received + RECOUNT_EVERY
            # The disk holds what this request wrote before this chunk; the rest of what it
            # declares (this chunk too) is added, so a request the disk cannot take stops at
            # its first chunk.
            written = self.received - len(raw_data)
            coming = max(self.declared, self.received) - written
            if in_flight_bytes() + coming > settings.LAYERVIZ_MAX_UPLOADS_IN_FLIGHT_BYTES:
                self._refuse(DISK_BUSY)
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self, why: str) -> None:
        # The view sees why and says so; the rest of the body is read and dropped.
        self.request.upload_refused = why  # type: ignore[union-attr]  # set for each upload
        raise StopUpload(connection_reset=False)


def save_upload(upload: UploadedFile) -> str:
    """Move an uploaded archive where the worker can read it; returns its path."""
    folder = settings.MEDIA_ROOT
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.tar"
    if hasattr(upload, "temporary_file_path"):
        # A second name for the bytes already on disk, not a second copy of up to 8 GiB;
        # Django deletes its temporary name after the request. Copied across file systems.
        try:
            os.link(upload.temporary_file_path(), path)
            return str(path)
        except OSError:
            pass
    with open(path, "wb") as out:
        if hasattr(upload, "temporary_file_path"):
            with open(upload.temporary_file_path(), "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        else:
            for chunk in upload.chunks():
                out.write(chunk)
    return str(path)
