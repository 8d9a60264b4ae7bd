from django.apps import AppConfig


class TrackLayerConfig(AppConfig):
    name = "tracklayer"
    verbose_name = "TrackLayer"
