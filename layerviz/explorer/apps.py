from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class ExplorerConfig(AppConfig):
    name = "layerviz.explorer"
    label = "explorer"
    verbose_name = "Explorer"

    def ready(self) -> None:
        # The compiled catalogues are generated files, not in the repository; make sure the
        # ones in use are current, whatever started the process (server, worker, tests).
        from layerviz.i18n import compile_catalogues

        for folder in settings.LOCALE_PATHS:
            compile_catalogues(folder)
