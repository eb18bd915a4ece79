from __future__ import annotations

from django.urls import path

from . import views

app_name = "containers"

urlpatterns = [
    path("containers/", views.containers, name="containers"),
    path("containers/<str:key>", views.container, name="container"),
    path("api/containers/<str:key>", views.container_api, name="api-container"),
]
