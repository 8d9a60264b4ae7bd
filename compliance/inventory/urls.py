"""Pages of compliance/inventory (the isolation test walks them)."""

from django.urls import path

from compliance.inventory import views

app_name = "inventory"

PREFIX = "w/<slug:slug>/compliance/inventory/"

urlpatterns = [
    path(PREFIX, views.inventory_page, name="list"),
    path(PREFIX + "inventory.csv", views.inventory_csv_download, name="csv"),
    path(PREFIX + "inventory.json", views.inventory_json_download, name="json"),
]
