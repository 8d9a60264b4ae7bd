from django.apps import AppConfig


class AccessReviewsConfig(AppConfig):
    """Access review campaigns and their decisions."""

    name = "compliance.access_reviews"
    label = "access_reviews"
