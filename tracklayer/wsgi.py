import os

from django.core.wsgi import get_wsgi_application

from tracklayer.serving.ingestion import IngestionDispatcher

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracklayer.settings")

# Ingestion paths skip the dashboard's middleware (tracklayer/serving/ingestion.py, ADR 0019);
# get_wsgi_application() sets Django up first.
application = IngestionDispatcher(get_wsgi_application())
