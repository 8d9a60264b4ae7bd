"""The product's URLs plus ``/v1/bench/constant``: what the dashboard's middleware costs.

(It was the ceiling of the ingestion figures; the reference is now bare Django,
tests/bench/bare_django.py, and this figure is shown beside it.)

The constant endpoint is served by the same process, middleware and URL resolver as
``/v1/events`` (under the same prefix, so anything keyed on ``/v1/`` treats both alike), and is
the same kind of view (a DRF ``APIView`` without authentication, like the ingestion views): it
takes the same POST body and answers a constant without reading it or touching the database or
Redis. What it costs is what the server, Django and DRF cost per request.
"""

from django.http import HttpResponse
from django.urls import include, path
from rest_framework.views import APIView

CONSTANT = b'{"ok":true}'


class ConstantApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request):
        return HttpResponse(CONSTANT, content_type="application/json")


urlpatterns = [
    path("v1/bench/constant", ConstantApi.as_view()),
    path("", include("tracklayer.urls")),
]
