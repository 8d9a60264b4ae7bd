from django.shortcuts import render

from audit.advisory import advisory_key
from tracklayer.exceptions import DomainError


class AdvisoryKeyMiddleware:
    """A request carrying ``X-Advisory-Key`` may append to an advisory-locked audit log (if the
    key is right). Without it, while a log is locked, sign-ins, retention purges and exports
    still happen and their entries wait for the lift; other audited changes are refused."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with advisory_key(request.headers.get("X-Advisory-Key")):
            return self.get_response(request)


class DomainErrorMiddleware:
    """The dashboard's one mapping of a domain error no view handled (say, an advisory lock
    refusal) to a page that says what happened, with the error's status — never a 500.
    The API has its own mapping (``tracklayer.api.exception_handler``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError):
            return None
        template = "partials/domain_error.html" if getattr(request, "htmx", False) else "error.html"
        response = render(request, template, {"error": exception}, status=exception.status)
        if getattr(request, "htmx", False):
            # Show the message in place of whatever the request meant to update.
            response["HX-Retarget"] = "#main"
            response["HX-Reswap"] = "afterbegin"
        return response
