from __future__ import annotations

from django.apps import AppConfig


class ExplorerConfig(AppConfig):
    name = "layerviz.explorer"
    label = "explorer"
    verbose_name = "Explorer"
