from __future__ import annotations

from django.urls import path

from . import views

app_name = "learn"

urlpatterns = [
    path("learn/", views.index, name="index"),
    path("learn/<slug:slug>/", views.lesson, name="lesson"),
]
