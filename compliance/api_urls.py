"""Compliance's API paths under /v1/ (included by tracklayer.api_urls, names under ``api:``)."""

urlpatterns: list = []
