"""``django.contrib.admin`` with the project's admin site (monitoring.admin_site), named in INSTALLED_APPS.

Kept apart from the site's module: app configs are imported before models are ready.
"""
from django.contrib.admin.apps import AdminConfig


class JobsAdminConfig(AdminConfig):
    default_site = "monitoring.admin_site.JobsAdminSite"
