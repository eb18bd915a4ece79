from __future__ import annotations

from django.urls import path

from . import api, views

app_name = "explorer"

urlpatterns = [
    path("", views.images, name="images"),
    path("add", views.add_image, name="add"),
    path("engine-images", views.engine_images, name="engine-images"),
    path("jobs/<int:pk>", views.job, name="job"),
    path("find", views.find, name="find"),
    path("images/<str:digest>/", views.image, name="image"),
    path("images/<str:digest>/tree", views.tree, name="tree"),
    path("images/<str:digest>/file", views.file_history, name="file"),
    path("images/<str:digest>/raw", views.file_raw, name="raw"),
    path("images/<str:digest>/diff", views.file_diff, name="diff"),
    path("images/<str:digest>/refetch", views.refetch_layers, name="refetch"),
    path("images/<str:digest>/steps", views.steps, name="steps"),
    path("images/<str:digest>/delete", views.delete_image, name="delete"),
    path("images/<str:digest>/efficiency", views.efficiency_page, name="efficiency"),
    path("images/<str:digest>/dockerfile", views.dockerfile, name="dockerfile"),
    path("api/images/<path:ref>", api.images_api, name="api-image"),
]
