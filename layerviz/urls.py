from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import health, theme

urlpatterns = [
    path("", include("layerviz.packages.urls")),
    path("", include("layerviz.explorer.urls")),
    path("", include("layerviz.compare.urls")),
    path("", include("layerviz.learn.urls")),
    path("", include("layerviz.containers.urls")),
    path("", include("layerviz.search.urls")),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("theme", theme.set_theme, name="set-theme"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
]

handler404 = "layerviz.error_views.not_found"
