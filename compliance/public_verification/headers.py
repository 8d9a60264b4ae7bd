"""The public answers' caching: a 200 is public data any cache may keep for a minute (so a
CDN in front absorbs repeated reads, and turning public verification off, or a new
checkpoint, shows within that minute); anything else — 404, 400, 409 and above all 429 — is
never stored, so no cache answers for the origin's refusals or its rate limit. Neither
varies with cookies: nothing served depends on who asks."""

from django.utils.cache import add_never_cache_headers, patch_cache_control

MAX_AGE = 60


def public_cache_headers(response):
    if response.status_code == 200:
        patch_cache_control(response, public=True, max_age=MAX_AGE)
    else:
        add_never_cache_headers(response)
    return response
