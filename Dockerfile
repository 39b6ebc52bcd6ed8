# Peerline in a container: `docker compose up -d` with compose.yaml (docs/operations.md).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY crypto ./crypto
RUN python -m venv /opt/peerline \
    && /opt/peerline/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/peerline --shell /usr/sbin/nologin peerline \
    && install -d -m 0700 -o peerline -g peerline /var/lib/peerline
COPY --from=build /opt/peerline /opt/peerline
ENV PATH=/opt/peerline/bin:$PATH \
    PEERLINE_CONFIG=/etc/peerline/config.toml \
    PYTHONUNBUFFERED=1
USER peerline
WORKDIR /var/lib/peerline
VOLUME ["/var/lib/peerline"]
# `docker run ... peerline check --live`, `backup /var/lib/peerline/backups/...` work the same.
ENTRYPOINT ["peerline"]
CMD ["run"]
