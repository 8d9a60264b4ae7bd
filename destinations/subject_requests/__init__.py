"""Data-subject requests passed on downstream: the forwarder ``privacy.requests.forwarding``
calls (registered from ``destinations.apps``), one result per destination.

- ``webhook``: a signed ``data_subject_request`` notice (``adapters.webhook.notice_request``);
- ``ga4_mp``: one User Deletion API upsert per client id and user id the destination was sent
  (``adapters.ga4``), where the destination has a property id and a service account key;
- ``meta_capi`` and ``tiktok_events``: ``not_supported`` — neither API can delete.

The adapters build the requests and read the answers; this package sends them through
``tracklayer.http`` (the one egress policy), as the delivery engine does.
"""
