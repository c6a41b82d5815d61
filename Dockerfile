# A small image for `tracker run`. Build: docker build -t mention-tracker .
# Run:   docker run -v $PWD/tracker.toml:/config/tracker.toml:ro -v tracker-data:/data mention-tracker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TRACKER_CONFIG=/config/tracker.toml
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY tracker ./tracker
COPY connectors ./connectors
COPY reports ./reports
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --system --home-dir /data --create-home tracker \
    && mkdir -p /config && chown tracker /data

USER tracker
VOLUME ["/data"]
# Unhealthy only when the daemon is down (exit 2); a degraded connector is no reason to restart.
HEALTHCHECK --interval=1m --timeout=30s --start-period=1m CMD tracker status > /dev/null || [ $? -eq 1 ]
# In the config, set data_dir = "/data" and [reports] output_dir = "/data/reports".
ENTRYPOINT ["tracker", "--log-format", "json"]
CMD ["run"]
