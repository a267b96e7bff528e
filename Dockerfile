# syntax=docker/dockerfile:1
#
# riff and the music app in one image: the host binary, spin.toml and the components it names.
#
#   docker build -t riff:latest .
#   docker run --rm -p 3000:3000 riff:latest          # then: curl localhost:3000/hello
#
# Storage is embedded SQLite under /var/lib/riff unless a runtime config says otherwise
# (--runtime-config-file; deploy/kubernetes/ points every label at PostgreSQL, Redis and NATS).
# Secret app variables come from the environment: RIFF_VARIABLE_<NAME> (see spin.toml [variables]).

# The toolchain of rust-toolchain.toml (1.95.0). Bookworm, like the runtime image's glibc.
ARG RUST_VERSION=1.95.0

################################################################################
# Builder: the host (native, release) and the components (wasm32-wasip2, release).
################################################################################
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# rust-toolchain.toml names this image's toolchain; add the components' target to it.
COPY rust-toolchain.toml ./
RUN rustup target add wasm32-wasip2 && rustc --version && cargo --version
COPY . .
# Cargo's registry and the target directory are build caches (BuildKit), so the artifacts the
# runtime stage needs are copied out to /out, laid out as the runtime image's filesystem.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,id=riff-target,sharing=locked \
    set -eu; \
    cargo build --release --locked -p riff; \
    cargo build --release --locked --target wasm32-wasip2 --manifest-path components/Cargo.toml; \
    mkdir -p /out/usr/local/bin /out/app /out/var/lib/riff; \
    cp target/release/riff /out/usr/local/bin/riff; \
    cp spin.toml /out/app/spin.toml; \
    # Every component's `source = "..."`, at the same path relative to spin.toml.
    sources=$(sed -n 's/^source = "\([^"]*\.wasm\)"$/\1/p' spin.toml); \
    test -n "$sources"; \
    for wasm in $sources; do \
        mkdir -p "/out/app/$(dirname "$wasm")"; \
        cp "$wasm" "/out/app/$wasm"; \
    done; \
    # The catalog's `files` mount: the demo catalog and its audio.
    mkdir -p /out/app/components/catalog; \
    cp -r components/catalog/demo /out/app/components/catalog/demo; \
    ls -lR /out/app

################################################################################
# Runtime: glibc + libgcc + CA certificates, no shell, no package manager, no toolchain.
################################################################################
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/usr/local/bin/riff /usr/local/bin/riff
COPY --from=builder /out/app/ /app/
# The state directory (compiled-component cache, embedded databases, admin token) must be
# writable by the runtime user; in Kubernetes an emptyDir is mounted here instead.
COPY --from=builder --chown=65532:65532 /out/var/lib/riff /var/lib/riff
WORKDIR /app
# distroless's "nonroot" user, by number so that runAsNonRoot can check it.
USER 65532:65532
ENV RIFF_LOG=info,sqlx=warn
EXPOSE 3000
# SIGTERM (the default stop signal) drains: no new connections, requests in flight finish for
# up to --shutdown-timeout (30 s), then riff exits 0.
ENTRYPOINT ["/usr/local/bin/riff"]
CMD ["up", "--from", "/app/spin.toml", "--listen", "0.0.0.0:3000", "--state-dir", "/var/lib/riff"]
