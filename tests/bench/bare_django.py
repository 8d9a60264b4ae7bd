"""The reference of the ingestion figures: bare Django, as issue 17 describes it.

No middleware, no apps, no database: one view that reads the request's body and answers a
constant, for every path (the bench posts the same bodies to it as to ``/v1/events``). The
bench serves it with gunicorn, 4 sync workers (``ingest_server.REFERENCE``), beside the product
and in the same run: what the server, Django's handler and URL resolver cost per request,
nothing of TrackLayer's.
"""

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bare-django-reference",  # signs nothing: no sessions, no forms
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
    LOGGING_CONFIG=None,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402 — after configure()
from django.http import HttpResponse  # noqa: E402
from django.urls import re_path  # noqa: E402

CONSTANT = b'{"ok":true}'


def constant(request):
    request.body  # noqa: B018 — read, as a real endpoint would
    return HttpResponse(CONSTANT, content_type="application/json")


urlpatterns = [re_path(r"", constant)]
application = get_wsgi_application()
