# gpucost: one image for every role (collector loop, dashboard, weekly report, exporter).
#
#   docker build -t gpucost .                                   # with Chromium (report charts/PDF)
#   docker build -t gpucost:slim --build-arg WITH_CHROMIUM=false .   # collector + dashboard only
#   docker run -v gpucost:/data -p 127.0.0.1:8050:8050 gpucost serve --host 0.0.0.0
#
# The entrypoint is the `gpucost` command: `docker run gpucost <subcommand> ...`. The warehouse is
# /data/gpucost.duckdb (GPUCOST_DB) on the /data volume; the dashboard and reports read
# /data/gpucost.duckdb.snapshot, which `gpucost run`/`build` publish after every build.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a non-editable install of the package (sql/ ships inside it) into /install ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gpucost/ gpucost/
COPY ingest/ ingest/
COPY analytics/ analytics/
COPY dashboard/ dashboard/
COPY sql/ sql/
COPY report/ report/
RUN pip install --prefix=/install . \
 && PYTHONPATH=$(echo /install/lib/python3*/site-packages) python -c \
    "from importlib import resources; assert resources.files('gpucost.sql').joinpath('models').is_dir()"

# -- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# Chromium renders the weekly report's charts (kaleido) and its PDF; ~250 MB. The dashboard,
# the collector and the exporter do not need it.
ARG WITH_CHROMIUM=true
RUN if [ "$WITH_CHROMIUM" = "true" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /install /usr/local
# A fixed non-root uid (group 0 for OpenShift-style arbitrary uids); /data is its volume.
RUN useradd --system --uid 10001 --gid 0 --home-dir /home/gpucost --create-home --shell /usr/sbin/nologin gpucost \
 && mkdir -p /data \
 && chown 10001:0 /data \
 && chmod 0775 /data
ENV GPUCOST_DB=/data/gpucost.duckdb \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/gpucost
VOLUME ["/data"]
WORKDIR /data
USER 10001:0
EXPOSE 8050
# For the default command (the dashboard): /healthz is 200 when the warehouse snapshot opens.
# Other roles override it (see docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/healthz', timeout=4)"]
ENTRYPOINT ["gpucost"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8050"]
