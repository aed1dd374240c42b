# Multi-stage build: compile with the full toolchain, run on a slim image as
# a non-root user. The runtime needs no PostgreSQL binaries: set DATABASE_URL.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN cargo build --release --locked && strip target/release/shequn

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app shequn
WORKDIR /app
COPY --from=build /src/target/release/shequn /usr/local/bin/shequn
COPY config ./config
USER shequn
ENV SHEQUN__SERVER__HOST=0.0.0.0 SHEQUN__LOG__FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q 200 <&3"]
ENTRYPOINT ["shequn"]
CMD ["serve"]
