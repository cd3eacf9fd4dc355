# syntax=docker/dockerfile:1
# The ispmonitor container image: built here with the Rust toolchain, run on distroless.
#
#   docker build -t ispmonitor .            (or: podman build --format docker -t ispmonitor .)
#   docker run -v ./config.yaml:/etc/ispmonitor/config.yaml:ro -p 9090:9090 ispmonitor
#
# Runtime: gcr.io/distroless/cc-debian12, not static musl on distroless/static. Every native
# dependency (ring, aes, russh, tokio-postgres, rustls) needs only libc, and the cc image is
# exactly glibc + libgcc_s (unwinding for panics) + CA certificates + tzdata, with no shell
# and no package manager. The glibc build uses the stock toolchain with no musl cross
# target, and keeps glibc's allocator, which a many-threaded poller wants over musl's.
# See docs/container.md.

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build

# Dependencies first: this layer is reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN cargo fetch --locked --target "$(rustc --print host-tuple)"

# The build context has no .git (.dockerignore): the revision for --version and
# ispmonitor_build_info comes from here, e.g. --build-arg REVISION="$(git rev-parse --short=12 HEAD)".
ARG REVISION=unknown
COPY build.rs ./
COPY src ./src
# Without the release profile's line tables the binary is 22 MB instead of 100 MB; symbols stay,
# so a panic's backtrace still names its functions.
RUN ISPMONITOR_GIT_REVISION="${REVISION}" CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --release --locked --bin ispmonitor \
 && install -D -m 0755 target/release/ispmonitor /out/ispmonitor \
 && /out/ispmonitor --version

FROM gcr.io/distroless/cc-debian12:nonroot
ARG REVISION=unknown
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ispmonitor" \
      org.opencontainers.image.description="Prometheus-native SNMP/SSH/ICMP poller and exporter for ISPs and server fleets" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/ispmonitor /usr/local/bin/ispmonitor

# distroless "nonroot": uid and gid 65532, numeric so that runAsNonRoot can verify it.
USER 65532:65532
# 9090: /metrics, /probe and health; 8080: the inventory API (when a database is configured).
EXPOSE 9090 8080

# A distroless image has no curl: the binary checks itself (GET /-/healthy, 2s timeout).
# ISPMONITOR_HEALTHCHECK_URL points it elsewhere (e.g. http://127.0.0.1:8080/live).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/ispmonitor", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/ispmonitor"]
CMD ["serve", "--config", "/etc/ispmonitor/config.yaml"]
