from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Swagger UI (served from this host by drf-spectacular-sidecar) sets inline styles as it renders.
swagger_ui = csp_override({**settings.SECURE_CSP, "style-src": ["'self'", "'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

# The API first: Django tries the patterns in order, and scripts call it once per point.
urlpatterns = [
    path("api/v1/", include("detection.api.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", swagger_ui, name="api-docs"),
    path("", include("detection.api.compat_urls")),
    path("", include("detection.urls")),
]
