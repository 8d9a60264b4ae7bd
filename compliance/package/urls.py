"""Pages of compliance/package (the isolation test walks them)."""

app_name = "evidence"

urlpatterns: list = []
