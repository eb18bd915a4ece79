from __future__ import annotations

from django.apps import AppConfig


class PackagesConfig(AppConfig):
    name = "layerviz.packages"
    label = "packages"
    verbose_name = "Packages"
