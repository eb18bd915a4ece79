from __future__ import annotations

from django.urls import path

from . import views

app_name = "packages"

# Before the explorer's catch-all ``api/images/<path:ref>``: a REF may hold slashes.
urlpatterns = [
    path("images/<str:digest>/packages", views.packages_page, name="packages"),
    path("api/images/<path:ref>/packages", views.packages_api, name="api-packages"),
    path("api/images/<path:ref>/sbom", views.sbom_api, name="api-sbom"),
]
