"""The product's URLs plus `POST /bench/bare/`: a DRF APIView answering a tiny JSON.

It goes through everything the API's views go through (middleware, DRF's request, the default
authentication, permission and throttle classes, the JSON renderer) and does nothing else, so
its requests/s are the floor our scoring endpoint is measured against.
"""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from anomaly_project.urls import urlpatterns as product_urlpatterns


class BareView(APIView):
    def post(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/bare/", BareView.as_view(), name="bench-bare"), *product_urlpatterns]
