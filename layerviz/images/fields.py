"""Model fields for text that comes from an image: stored escaped (``lib.stored_text``), read
back exactly as the image had it, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from django.db import models

from layerviz.lib import stored_text


class ImageTextField(models.TextField):
    """A TextField whose value may hold NUL or lone surrogates (a config's ``created_by``)."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return stored_text.escape(value) if isinstance(value, str) else value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return stored_text.unescape(value) if isinstance(value, str) else value


class ImageCharField(models.CharField):
    """A CharField for image text (a platform's ``os``): escaped like ``ImageTextField``."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return stored_text.escape(value) if isinstance(value, str) else value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return stored_text.unescape(value) if isinstance(value, str) else value


class ImageJSONField(models.JSONField):
    """A JSONField for an image's documents (config, manifest, notes quoting them): every
    string in the value, keys too, escaped on the way in and restored on the way out."""

    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(stored_text.escape_json(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return stored_text.unescape_json(super().from_db_value(value, expression, connection))
