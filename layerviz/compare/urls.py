from __future__ import annotations

from django.urls import path

from . import views

app_name = "compare"

urlpatterns = [
    path("compare", views.compare, name="compare"),
    path("compare/tree", views.compare_tree, name="tree"),
    path("store", views.store, name="store"),
    path("api/compare", views.compare_api, name="api-compare"),
    path("api/store", views.store_api, name="api-store"),
]
