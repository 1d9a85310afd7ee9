# The web image (also used for the Celery worker). Not built by CI here: this machine has no
# Docker engine. See README.md and docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/data \
    STATIC_COLLECTED=true

# WeasyPrint (PDF reports) needs Pango, HarfBuzz and fontconfig, plus at least one font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
        libfontconfig1 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 app && mkdir /data && chown app:app /data
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=app:app . .
RUN python manage.py collectstatic --noinput

USER app
EXPOSE 8000
CMD ["uvicorn", "anomaly_project.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*"]
