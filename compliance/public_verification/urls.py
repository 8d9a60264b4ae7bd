"""Pages of compliance/public_verification (the isolation test walks them)."""

app_name = "public_verification"

urlpatterns: list = []
