"""Review of workspaces/api_key_cache.api_key_from_entry: a key built from a cache entry has
the entry's values and each other field's default. Those defaults are decided, field by field,
against ApiKey's fields as they are; a field added, removed or renamed by a migration must be
decided again (must the entry carry it? is its default safe on a key the cache vouches for?),
so a change to the list fails here instead of passing silently."""

import datetime as dt

import pytest
from django.utils import timezone

from workspaces import keys
from workspaces.api_key_cache import api_key_cache_get, api_key_cache_put, api_key_from_entry
from workspaces.models import ApiKey, ApiKeyRole

# attname: where a key built from the cache takes it from.
REVIEWED_FIELDS = {
    "id": "entry",
    "public_id": "entry",
    "workspace_id": "entry",
    "name": "entry",
    "environment": "entry",
    "role": "entry",
    "prefix": "the token",
    "secret_hash": "default ('' — the entry's digest stands for it)",
    "created_by_id": "default (None)",
    "created_at": "default (None)",
    "expires_at": "entry (checked on every request)",
    "last_used_at": "default (None; touched by pk)",
    "revoked_at": "default (None; revocation deletes the entry at commit)",
    "rotated_from_id": "default (None)",
}


def test_apikeys_fields_are_the_reviewed_ones_in_their_order():
    attnames = [field.attname for field in ApiKey._meta.concrete_fields]
    assert attnames == list(REVIEWED_FIELDS), (
        "ApiKey's fields changed: decide for each new field whether the verification cache's "
        "entry (api_key_cache_put) must carry it, then update REVIEWED_FIELDS"
    )


@pytest.mark.django_db
def test_a_key_from_its_entry_has_the_rows_values_and_types(workspace, make_api_key):
    expires = timezone.now().replace(microsecond=123457) + dt.timedelta(days=3)
    key, token = make_api_key(workspace, role=ApiKeyRole.ADMIN, name="naïve ✓", expires_at=expires)
    parsed = keys.parse_token(token)
    row = ApiKey.objects.get(pk=key.pk)  # as api_key_authenticate puts it: read from the database
    api_key_cache_put(row, keys.secret_digest(parsed.secret))
    built = api_key_from_entry(parsed.prefix, api_key_cache_get(parsed.prefix))
    for attname, source in REVIEWED_FIELDS.items():
        if source.startswith(("entry", "the token")):
            assert getattr(built, attname) == getattr(row, attname), attname
            assert type(getattr(built, attname)) is type(getattr(row, attname)), attname
    assert built.expires_at.utcoffset() == dt.timedelta(0)
    assert built.revoked_at is None and built.pk == row.pk and built.workspace_id == workspace.pk
