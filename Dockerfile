# syntax=docker/dockerfile:1
# Aura in a container: built with the Rust image (plus Node for the front-end assets that
# crates/aura-web/build.rs bundles into the binary), run from debian-slim as a non-root user.
# Queries are checked against the committed .sqlx/ metadata, so the build needs no database.

FROM rust:1.89-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV SQLX_OFFLINE=true
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin aura \
    && cp target/release/aura /usr/local/bin/aura

FROM debian:bookworm-slim
# The binary carries its assets and TLS roots; ca-certificates only for tools an operator adds.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin aura
COPY --from=build /usr/local/bin/aura /usr/local/bin/aura
USER aura
ENV AURA_LISTEN=0.0.0.0:3000
EXPOSE 3000
# Migrations are idempotent and take a lock, so every start may run them; then the server
# replaces the shell (signals reach it, and it finishes requests in flight on SIGTERM).
ENTRYPOINT ["/bin/sh", "-c", "aura migrate && exec aura serve"]
