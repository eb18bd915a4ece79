from __future__ import annotations

from django.apps import AppConfig


class ContainersConfig(AppConfig):
    name = "layerviz.containers"
    label = "containers"
    verbose_name = "Containers"
