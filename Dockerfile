# moviedb: one image, every role (`moviedb serve|command-api|projector|query-api|rebuild|admin`).
# Build: docker build -t moviedb .   (docker-compose.yml builds it for the three services.)

FROM rust:1.95-bookworm AS build
WORKDIR /src
# librdkafka is built from source by rdkafka-sys (bundled, with zlib) through its own configure
# script and make, which the image has; without the crate's `cmake-build` feature no cmake is
# needed.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins --features moviedb/distributed \
 && mkdir -p /out \
 && cp target/release/moviedb target/release/command-api target/release/projector \
       target/release/query-api /out/

FROM debian:bookworm-slim AS runtime
# curl for the health checks; nothing else runs in this image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data moviedb \
 && mkdir -p /data && chown moviedb /data
COPY --from=build /out/ /usr/local/bin/
USER moviedb
WORKDIR /data
ENV MOVIEDB_DATA_DIR=/data MOVIEDB_LISTEN=0.0.0.0:9000 MOVIEDB_LOG_FORMAT=json
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD curl -fsS http://127.0.0.1:9000/health/ready || exit 1
ENTRYPOINT ["moviedb"]
CMD ["serve"]
