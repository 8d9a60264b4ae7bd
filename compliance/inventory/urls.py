"""Pages of compliance/inventory (the isolation test walks them)."""

app_name = "inventory"

urlpatterns: list = []
