"""SCIM 2.0's HTTP surface (RFC 7644), thin: authenticate the token (it decides the
workspace), read the body or query, call one selector or service, render SCIM JSON.

django-scim2's own views are not used: they serve one global tenant and authenticate with
Django's session or user auth, while here the bearer token alone names the workspace and
every query is scoped to it (docs/adr/0016-scim.md). Its schemas, constants and filter parser
are used. Every error, hostile input included, is answered in the SCIM error schema with a
4xx — never a 5xx."""

import json

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django_scim.constants import SchemaURI

from tracklayer.exceptions import DomainError
from workspaces.scim import patch, resources, schemas, selectors, services
from workspaces.scim.auth import scim_authenticate
from workspaces.scim.exceptions import ScimError, invalid_syntax, invalid_value, not_found

CONTENT_TYPE = "application/scim+json"
ACCEPTED_CONTENT_TYPES = ("application/scim+json", "application/json", "")
MAX_BODY_BYTES = 1024 * 1024


def scim_response(data, *, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False),
        status=status,
        content_type=f"{CONTENT_TYPE}; charset=utf-8",
        headers=headers,
    )
    return response


def error_response(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    body = {"schemas": [SchemaURI.ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if status == 401 else None
    return scim_response(body, status=status, headers=headers)


def list_response(resources_: list[dict], *, total: int, start: int) -> HttpResponse:
    return scim_response(
        {
            "schemas": [SchemaURI.LIST_RESPONSE],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(resources_),
            "Resources": resources_,
        }
    )


def not_found_view(request, *args, **kwargs):
    """Any other path under /scim/v2/: SCIM's 404, not a page."""
    return error_response(404, f"No SCIM endpoint at {request.path!r}.")


@method_decorator(csrf_exempt, name="dispatch")
class ScimView(View):
    """Authenticates, dispatches, and turns every refusal into SCIM's error schema."""

    def dispatch(self, request, *args, **kwargs):
        try:
            token, self.actor = scim_authenticate(request.headers.get("Authorization", ""))
            self.workspace = token.workspace
            method = request.method.lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            if handler is None or method == "options":
                raise ScimError(f"{request.method} is not allowed here.", status=405)
            return handler(request, *args, **kwargs)
        except ScimError as error:
            return error_response(error.status, error.message, error.scim_type)
        except DomainError as error:  # a service's refusal (say, the audit log's lock)
            return error_response(error.status, error.message)

    # --- Input --------------------------------------------------------------------------------

    def body(self):
        request = self.request
        if request.content_type.lower() not in ACCEPTED_CONTENT_TYPES:
            raise ScimError(f"Send the body as {CONTENT_TYPE} (or application/json).", status=415)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise invalid_syntax("Content-Length is not a number.") from None
        if declared > MAX_BODY_BYTES:
            raise self._too_large()
        try:
            raw = request.body
        except RequestDataTooBig:
            raise self._too_large() from None
        if len(raw) > MAX_BODY_BYTES:
            raise self._too_large()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise invalid_syntax("The body is not valid JSON.") from None

    @staticmethod
    def _too_large() -> ScimError:
        return ScimError(f"The body is larger than {MAX_BODY_BYTES} bytes.", status=413)

    def query(self, name: str) -> str | None:
        value = self.request.GET.get(name)
        return value if value not in (None, "") else None

    def integer(self, name: str, default: int) -> int:
        value = self.request.GET.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value.strip())
        except ValueError:
            raise invalid_value(f"{name} must be an integer.") from None

    def page(self) -> tuple[int, int]:
        """``startIndex`` (1-based; below 1 counts as 1) and ``count`` (0 to maxResults)."""
        start = max(self.integer("startIndex", 1), 1)
        count = min(max(self.integer("count", schemas.MAX_RESULTS), 0), schemas.MAX_RESULTS)
        return start, count

    def project(self, resource: dict) -> dict:
        return resources.project(
            resource,
            attributes=self.query("attributes"),
            excluded=self.query("excludedAttributes"),
        )

    def paged(self, queryset, render) -> HttpResponse:
        start, count = self.page()
        total = queryset.count()
        within = count and start <= total
        page = list(queryset[start - 1 : start - 1 + count]) if within else []
        return list_response(
            [self.project(render(item)) for item in page], total=total, start=start
        )


# --- Discovery ----------------------------------------------------------------------------------


class ServiceProviderConfigView(ScimView):
    def get(self, request):
        return scim_response(schemas.service_provider_config())


class ResourceTypesView(ScimView):
    def get(self, request, name: str | None = None):
        types = schemas.resource_types()
        if name is None:
            return list_response(list(types.values()), total=len(types), start=1)
        if name not in types:
            raise not_found(f"No resource type {name!r}.")
        return scim_response(types[name])


class SchemasView(ScimView):
    def get(self, request, schema_id: str | None = None):
        known = schemas.schemas()
        if schema_id is None:
            return list_response(list(known.values()), total=len(known), start=1)
        if schema_id not in known:
            raise not_found(f"No schema {schema_id!r}.")
        return scim_response(known[schema_id])


# --- Users --------------------------------------------------------------------------------------


def user_state(scim_user) -> dict:
    """The user's writable attributes, as a PATCH starts from them."""
    resource = resources.user_resource(scim_user)
    return {
        "username": resource["userName"],
        "externalid": scim_user.external_id,
        "displayname": scim_user.display_name,
        "name": {"givenname": scim_user.given_name, "familyname": scim_user.family_name},
        "emails": resource["emails"],
        "active": scim_user.active,
    }


class UsersView(ScimView):
    def get(self, request):
        users = selectors.scim_user_list(workspace=self.workspace, filter_text=self.query("filter"))
        return self.paged(users, resources.user_resource)

    def post(self, request):
        data = resources.parse_user(self.body())
        scim_user = services.scim_user_create(workspace=self.workspace, actor=self.actor, data=data)
        scim_user = selectors.scim_user_get(
            workspace=self.workspace, user_id=scim_user.user.public_id
        )
        resource = resources.user_resource(scim_user)
        return scim_response(
            resource, status=201, headers={"Location": resource["meta"]["location"]}
        )


class UserView(ScimView):
    def user(self, user_id: str):
        return selectors.scim_user_get(workspace=self.workspace, user_id=user_id)

    def render(self, user_id: str) -> HttpResponse:
        return scim_response(self.project(resources.user_resource(self.user(user_id))))

    def get(self, request, user_id: str):
        return self.render(user_id)

    def put(self, request, user_id: str):
        scim_user = self.user(user_id)
        data = resources.parse_user(self.body())
        services.scim_user_update(
            workspace=self.workspace, actor=self.actor, scim_user=scim_user, data=data
        )
        return self.render(user_id)

    def patch(self, request, user_id: str):
        scim_user = self.user(user_id)
        body = self.body()
        services.scim_user_patch(
            workspace=self.workspace,
            actor=self.actor,
            scim_user=scim_user,
            patched=lambda locked: resources.parse_user(
                patch.apply_user_patch(user_state(locked), body)
            ),
        )
        return self.render(user_id)

    def delete(self, request, user_id: str):
        services.scim_user_delete(
            workspace=self.workspace, actor=self.actor, scim_user=self.user(user_id)
        )
        return HttpResponse(status=204)


# --- Groups -------------------------------------------------------------------------------------


def group_state(group) -> dict:
    return {
        "displayname": group.display_name,
        "externalid": group.external_id,
        "members": [m.user.public_id for m in group.members.all()],
    }


class GroupsView(ScimView):
    def get(self, request):
        groups = selectors.scim_group_list(
            workspace=self.workspace, filter_text=self.query("filter")
        )
        return self.paged(groups, resources.group_resource)

    def post(self, request):
        data = resources.parse_group(self.body())
        group = services.scim_group_create(workspace=self.workspace, actor=self.actor, data=data)
        group = selectors.scim_group_get(workspace=self.workspace, group_id=group.public_id)
        resource = resources.group_resource(group)
        return scim_response(
            resource, status=201, headers={"Location": resource["meta"]["location"]}
        )


class GroupView(ScimView):
    def group(self, group_id: str):
        return selectors.scim_group_get(workspace=self.workspace, group_id=group_id)

    def render(self, group_id: str) -> HttpResponse:
        return scim_response(self.project(resources.group_resource(self.group(group_id))))

    def get(self, request, group_id: str):
        return self.render(group_id)

    def put(self, request, group_id: str):
        group = self.group(group_id)
        data = resources.parse_group(self.body())
        services.scim_group_update(
            workspace=self.workspace, actor=self.actor, group=group, data=data
        )
        return self.render(group_id)

    def patch(self, request, group_id: str):
        group = self.group(group_id)
        body = self.body()

        def patched(locked):
            state = patch.apply_group_patch(group_state(locked), body)
            state["members"] = [{"value": m} for m in state.get("members") or []]
            return resources.parse_group(state)

        services.scim_group_patch(
            workspace=self.workspace, actor=self.actor, group=group, patched=patched
        )
        return self.render(group_id)

    def delete(self, request, group_id: str):
        services.scim_group_delete(
            workspace=self.workspace, actor=self.actor, group=self.group(group_id)
        )
        return HttpResponse(status=204)
