# The source-harvest image: a Rust build stage, then a slim Debian runtime.
# Airbyte runs it as `sh -c 'eval "$AIRBYTE_ENTRYPOINT read ..."'`, so the runtime keeps /bin/sh
# (no scratch or shell-less distroless base) and AIRBYTE_ENTRYPOINT equals ENTRYPOINT.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Only the connector binary: the emulator and xtask are workspace members for tests and demos.
# --locked builds exactly the reviewed Cargo.lock; stripping symbols roughly halves the binary.
# Thin LTO with fewer codegen units is for the shipped binary only (local release builds skip it
# to build faster; see Cargo.toml). The cache mounts keep crates and compiled dependencies
# between local rebuilds of the image.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_RELEASE_LTO=thin \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=4
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p source-harvest --bin source-harvest \
    && install -m 0755 target/release/source-harvest /usr/local/bin/source-harvest

FROM debian:bookworm-slim
# TLS roots: the binary trusts Mozilla's roots built into it plus the system store, so a CA added
# to the image (a TLS-inspecting proxy's) is honoured. The bundle comes from the build stage,
# which keeps apt out of the runtime image.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The platform's rootless mode runs the image under an arbitrary non-root UID; run as one by
# default too, so a plain `docker run` behaves the same way. Nothing is written outside /tmp.
RUN useradd --system --uid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin airbyte
COPY --from=build /usr/local/bin/source-harvest /usr/local/bin/source-harvest
USER 10001:10001
WORKDIR /tmp
ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/source-harvest"
ENTRYPOINT ["/usr/local/bin/source-harvest"]
# Must equal metadata.yaml's dockerRepository and dockerImageTag (Airbyte checks both).
LABEL io.airbyte.name="source-harvest/source-harvest" \
      io.airbyte.version="0.1.0" \
      org.opencontainers.image.title="source-harvest" \
      org.opencontainers.image.description="Airbyte source connector for Harvest, in Rust" \
      org.opencontainers.image.licenses="MIT"
