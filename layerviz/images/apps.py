from __future__ import annotations

from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "layerviz.images"
    label = "images"
    verbose_name = "Image index"
