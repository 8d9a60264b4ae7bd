from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("w/<slug:slug>/audit/", views.audit_log, name="log"),
    path("w/<slug:slug>/audit/<int:idx>/", views.audit_entry, name="entry"),
    path("w/<slug:slug>/audit/<int:idx>/proof.json", views.audit_entry_proof, name="entry-proof"),
    path("w/<slug:slug>/audit/verify/", views.audit_verify, name="verify"),
    path("w/<slug:slug>/audit/checkpoint/", views.audit_checkpoint, name="checkpoint"),
    path("w/<slug:slug>/settings/compliance/", views.compliance_settings, name="compliance"),
    path("w/<slug:slug>/settings/compliance/export/", views.export_now, name="export-now"),
    path("w/<slug:slug>/audit/lock/", views.audit_lock, name="lock"),
    path("w/<slug:slug>/audit/unlock/", views.audit_unlock, name="unlock"),
]
