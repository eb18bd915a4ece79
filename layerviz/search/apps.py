from __future__ import annotations

from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "layerviz.search"
    label = "search"
    verbose_name = "Search across images"
