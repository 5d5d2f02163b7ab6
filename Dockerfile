# One image for every LearnPulse process; the command picks the role:
#   python -m streams            stream worker
#   python -m services.ingest    ingest gateway
#   python -m services.delivery  delivery API
#   python deploy/scripts/init_kafka.py ...   one-shot topic and schema set-up
# Built by docker-compose.yml; settings come from LEARNPULSE_* environment variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 learnpulse \
    && useradd --system --uid 10001 --gid learnpulse --home-dir /app --shell /usr/sbin/nologin learnpulse \
    && mkdir -p /var/lib/learnpulse \
    && chown learnpulse:learnpulse /var/lib/learnpulse

WORKDIR /app

# Metadata and packages first; the install layer is rebuilt only when they change.
COPY pyproject.toml README.md ./
COPY learnpulse ./learnpulse
COPY streams ./streams
COPY services ./services
COPY schemas ./schemas
# The stream models are compiled with mypyc in place (learnpulse/native.py), so the
# worker imports them from /app; mypy (the compiler) and gcc do not stay in the image.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install . "mypy>=1.13" \
    && python -m learnpulse.native build \
    && pip uninstall -y mypy && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* build *.egg-info

COPY deploy/scripts ./deploy/scripts

USER learnpulse
# Stream worker metrics, ingest gateway, delivery API.
EXPOSE 9108 8080 8081
CMD ["python", "-m", "streams"]
