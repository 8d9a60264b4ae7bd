"""No request reaches a view with a NUL character in its path, its query string or a form.

PostgreSQL's text cannot hold NUL, nor be compared with a value holding one: the driver
refuses the query, and the view that looked up ``/v1/events/a%00b`` or filtered deliveries by
``?message_id=%00`` answered 500 (issue 11 review). Forms and serializers already refuse NUL
in the fields they read; path parameters and query values read directly did not, on the API
and the dashboard alike. Nothing stored can contain NUL — ingestion refuses it per event, the
forms everywhere — so no value holding one can name anything:

- in the path: 404, as for any path that names nothing (JSON under ``/v1/``);
- in a query parameter's name or value: 400 naming the parameter (JSON under ``/v1/``,
  Django's 400 page on the dashboard);
- in a field the dashboard posts (form-encoded): Django's 400 page.

API bodies are left to their parsers (ingestion's, DRF's), which name the field.
"""

from django.http import JsonResponse
from django.views import defaults

from tracklayer import api

NUL = "\x00"


def _nul_field(data) -> str | None:
    """The first field of ``data`` (a QueryDict) whose name or a value holds a NUL."""
    for name, values in data.lists():
        if NUL in name or any(NUL in value for value in values):
            return name
    return None


def _shown(name: str) -> str:
    return name.replace(NUL, "\\u0000")


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path_info:
            if request.path_info.startswith(api.API_PREFIX):
                message = "Nothing here: the path contains a NUL character (\\u0000)."
                return JsonResponse(api.error_body("not_found", message), status=404)
            return defaults.page_not_found(request, None)
        name = _nul_field(request.GET)
        if name is not None:
            return self._bad_query(request, _shown(name))
        # The dashboard's posted forms too: some views read a field without a form (a pause
        # reason, the destination whose dead letters to replay). Not under /v1/: ingestion
        # reads any body itself, and reading request.POST here would consume a form-encoded one.
        if (
            not request.path_info.startswith(api.API_PREFIX)
            and _nul_field(request.POST) is not None
        ):
            return defaults.bad_request(request, None)
        return self.get_response(request)

    @staticmethod
    def _bad_query(request, name: str):
        message = (
            f"The query parameter {name!r} contains a NUL character (\\u0000), "
            "which no value can hold."
        )
        if request.path_info.startswith(api.API_PREFIX):
            body = api.error_body("nul_character", message, field=name)
            return JsonResponse(body, status=400)
        return defaults.bad_request(request, None)
