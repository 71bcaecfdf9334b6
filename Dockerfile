# Multi-stage build: dependencies are compiled in their own cached layer
# (a dummy main), then the real source; the runtime image is slim Debian with
# both database client libraries, run as a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/api && echo 'fn main() {}' > src/main.rs && touch src/lib.rs && echo '' > tests/api/main.rs \
    && cargo build --release --locked && rm -rf src tests
COPY src src
COPY migrations migrations
COPY templates templates
COPY config config
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin clarion

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data clarion && mkdir -p /data && chown clarion /data
COPY --from=build /src/target/release/clarion /usr/local/bin/clarion
COPY config /etc/clarion/config
COPY templates /etc/clarion/templates
USER clarion
WORKDIR /data
VOLUME /data
ENV CLARION_DATABASE_URL=sqlite:///data/clarion.db \
    CLARION_HTTP_ADDR=0.0.0.0:8080 \
    CLARION_OUTBOX_DIR=/data/outbox
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["clarion"]
CMD ["serve"]
