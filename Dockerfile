# One image for every process of docker-compose.yml: web, workers, beat, flower, migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image (production serves them with WhiteNoise, without
# finders). The base settings suffice for that and need no secret.
RUN DJANGO_SETTINGS_MODULE=lms.settings python manage.py collectstatic --no-input \
    && useradd --create-home --uid 1000 lms \
    && mkdir -p var/media var/mail \
    && chown -R lms:lms var

USER lms
EXPOSE 8000 5555
CMD ["gunicorn", "lms.wsgi"]
