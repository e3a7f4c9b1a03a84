# One image for every project process (web, workers, scheduler, migrate);
# docker-compose.yml picks the command. Configuration comes from the environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Runtime dependencies only (tests and the embedded dev servers are in
# requirements-dev.txt), first, so code changes do not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files (admin, dashboard) into STATIC_ROOT; whitenoise serves them from
# the web process. Settings only need some SECRET_KEY to load here.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

# Run as an unprivileged user; the code stays owned by root (read-only to the app).
RUN useradd --system --uid 10001 --no-create-home --home-dir /app app
USER app

EXPOSE 8000
CMD ["uvicorn", "jobsite.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "off"]
