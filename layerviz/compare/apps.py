from __future__ import annotations

from django.apps import AppConfig


class CompareConfig(AppConfig):
    name = "layerviz.compare"
    label = "compare"
    verbose_name = "Compare and share"
