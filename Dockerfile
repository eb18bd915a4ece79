# layerviz's own image, built to layerviz's own advice (README, "layerviz's own image"):
# two stages, the runtime one holding Debian's python3, the virtual environment and the code,
# nothing of the build: no pip, no apt lists, no caches, no compiler.
#
#   python3 dev.py image     # makes the base (nothing is pulled), then builds layerviz:latest
#
# The classic builder is enough (no BuildKit syntax). The base is a Debian 12 rootfs with
# Debian's python3 (tools/image/build.py makes it with debootstrap and docker import).
ARG BASE=layerviz-base:bookworm

FROM ${BASE} AS builder
# python3-venv for ensurepip; ca-certificates for pip's TLS, which may need this machine's
# extra CAs (EXTRA_CA_PEM, public certificates: in this throw-away stage only).
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
ARG PIP_INDEX_URL=
ARG EXTRA_CA_PEM=
# Only the requirements, so that a change to the code reuses this layer. No bytecode (it is
# compiled in the runtime stage, where it is not taken for build-context junk), no cache, and
# pip itself removed once it has installed the rest: the runtime needs none of it.
COPY requirements.txt /tmp/requirements.txt
RUN set -eu; \
    if [ -n "$EXTRA_CA_PEM" ]; then printf '%s\n' "$EXTRA_CA_PEM" >>/etc/ssl/certs/ca-certificates.crt; fi; \
    python3 -m venv /opt/venv; \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/venv/bin/pip install --no-cache-dir --no-compile \
        --disable-pip-version-check ${PIP_INDEX_URL:+--index-url "$PIP_INDEX_URL"} \
        -r /tmp/requirements.txt; \
    /opt/venv/bin/pip uninstall --yes --no-cache-dir pip setuptools; \
    rm -f /opt/venv/bin/Activate.ps1

FROM ${BASE}
# The user the app runs as (no shell, no home of its own) and its data directory, which a
# named volume mounted there inherits the owner of.
RUN useradd --system --user-group --uid 999 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin layerviz \
    && install -d -o layerviz -g layerviz -m 0750 /data
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAYERVIZ_DATA_DIR=/data \
    LAYERVIZ_STATIC_ROOT=/app/staticfiles \
    PORT=8000
# What the app runs from, and only that (.dockerignore lists what may come in). WORKDIR after
# the COPY made /app: the classic builder would otherwise commit an empty layer creating it.
COPY . /app/
WORKDIR /app
# Build-time work, in one step: the static files collected, hashed and compressed (what
# whitenoise serves, so the image serves offline), the translations compiled (the app does it
# at start-up), and everything byte-compiled once, since the app's user may not write here.
# The settings want a data directory; a throw-away one.
RUN LAYERVIZ_DATA_DIR=/tmp/build-data python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q -j 0 /opt/venv/lib /app/layerviz /app/manage.py \
    && rm -rf /tmp/build-data
USER layerviz
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["/app/tools/image/entrypoint.sh"]
CMD ["web"]
