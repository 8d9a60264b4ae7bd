from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("w/<slug:slug>/audit/", views.audit_log, name="log"),
    path("w/<slug:slug>/audit/verify/", views.audit_verify, name="verify"),
    path("w/<slug:slug>/audit/checkpoint/", views.audit_checkpoint, name="checkpoint"),
]
