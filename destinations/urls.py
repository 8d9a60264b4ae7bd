"""The dashboard's destinations app: each concept keeps its routes in its own package
(ingestion: events debugger and Settings → Ingestion; tracking plans; routing: the destination
pages; retention: Privacy → Retention), included here under one ``app_name`` so the URL names
stay ``destinations:…``."""

from destinations.ingestion import urls as ingestion_urls
from destinations.retention import urls as retention_urls
from destinations.routing import urls as routing_urls
from destinations.tracking_plans import urls as tracking_plan_urls

app_name = "destinations"

urlpatterns = [
    *ingestion_urls.urlpatterns,
    *retention_urls.urlpatterns,
    *routing_urls.urlpatterns,
    *tracking_plan_urls.urlpatterns,
]
