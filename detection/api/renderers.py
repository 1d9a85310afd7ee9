from django.conf import settings
from rest_framework.renderers import BrowsableAPIRenderer


class CspAwareBrowsableAPIRenderer(BrowsableAPIRenderer):
    """DRF's browsable pages carry inline styles; allow those on these HTML pages only."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_config = {
                **settings.SECURE_CSP,
                "style-src": ["'self'", "'unsafe-inline'"],
            }
        return super().render(data, accepted_media_type, renderer_context)
