"""Uploaded archives: streamed to disk under a size cap, never extracted.

Django already streams large uploads to temporary files; ``CappedUploadHandler`` stops a
request as soon as it passes ``LAYERVIZ_MAX_UPLOAD_BYTES`` instead of after writing it all.
"""

from __future__ import annotations

import os
import shutil
import uuid

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class CappedUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int):
        self.received += len(raw_data)
        if self.received > settings.LAYERVIZ_MAX_UPLOAD_BYTES:
            # The view sees the flag and says why; the rest of the body is read and dropped.
            self.request.upload_too_large = True  # type: ignore[union-attr]  # set for each upload
            raise StopUpload(connection_reset=False)
        return super().receive_data_chunk(raw_data, start)


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
