# Switchyard: one static-ish binary on a small Debian runtime.
#   docker build -t switchyard .
#   docker run -p 8000:8000 -v switchyard-data:/data switchyard
# Multi-stage: the build stage compiles the release binary (dependencies cached in
# their own layer); the runtime stage has the binary, CA certificates (TLS to
# provider APIs, SMTP, LLM endpoints) and curl for the health check, runs as an
# unprivileged user and keeps its state in the /data volume (the SQLite file, the
# generated admin key and master key, the config and workflows folders).

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first: a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p switchyard \
 && cp target/release/switchyard /usr/local/bin/switchyard

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 switchyard \
 && useradd --system --uid 10001 --gid switchyard --home-dir /data --shell /usr/sbin/nologin switchyard \
 && mkdir -p /data \
 && chown switchyard:switchyard /data
COPY --from=build /usr/local/bin/switchyard /usr/local/bin/switchyard

USER switchyard:switchyard
WORKDIR /data
VOLUME ["/data"]
ENV WEBHOOK_SERVER_HOST=0.0.0.0 \
    WEBHOOK_SERVER_PORT=8000 \
    SWITCHYARD_DATA_DIR=/data \
    DATABASE_URL=sqlite:///data/switchyard.db \
    SWITCHYARD_CONFIG_DIR=/data/config/webhooks \
    SWITCHYARD_WORKFLOWS_DIR=/data/config/workflows
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${WEBHOOK_SERVER_PORT}/healthz" >/dev/null || exit 1
ENTRYPOINT ["switchyard"]
CMD ["serve"]
