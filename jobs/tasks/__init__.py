"""Django's Tasks API (DEP 14) run by this engine: ``@task`` functions become job types.

jobs.tasks.backend is the backend TASKS names; jobs.tasks.types turns a Task into a job type;
jobs.tasks.results builds a TaskResult from the job's rows. The backport ``django_tasks`` is
imported in one place (jobs/tasks/api.py) so that Django 6's ``django.tasks`` is one import away.
"""
