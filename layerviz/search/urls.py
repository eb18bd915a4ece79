from __future__ import annotations

from django.urls import path

from . import api, views

app_name = "search"

urlpatterns = [
    path("search", views.search, name="search"),
    path("api/search", api.search_api, name="api"),
]
