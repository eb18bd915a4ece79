from __future__ import annotations

from django.apps import AppConfig


class LearnConfig(AppConfig):
    name = "layerviz.learn"
    label = "learn"
    verbose_name = "Lessons"
