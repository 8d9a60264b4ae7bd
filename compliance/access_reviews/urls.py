"""Pages of compliance/access_reviews (the isolation test walks them)."""

app_name = "access_reviews"

urlpatterns: list = []
