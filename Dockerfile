# syntax=docker/dockerfile:1
#
# The operator image: one static binary on distroless/static, running as UID/GID 65532, with no
# shell and no package manager. Build from the repository root:
#
#   docker build -t ghcr.io/locust-operator/locust-operator:0.1.0 .
#
# The deploy/ manifests run it with `args: ["run", "--log-format=json", ...]` (no `command`),
# so the ENTRYPOINT below is the binary itself. tests/deploy/ checks this file statically.

# ---------------------------------------------------------------------------------------------
# Build: a fully static (musl) release binary from the locked dependency set. The pinned Rust
# version is the package's rust-version (Cargo.toml). ring compiles its C and assembly parts
# with musl-gcc.
FROM rust:1.89-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
# amd64 and arm64, each built natively (`docker buildx build --platform linux/amd64,linux/arm64`).
ARG TARGETARCH
RUN case "${TARGETARCH:-amd64}" in \
        amd64) echo x86_64-unknown-linux-musl ;; \
        arm64) echo aarch64-unknown-linux-musl ;; \
        *) echo "unsupported architecture: ${TARGETARCH}" >&2; exit 1 ;; \
    esac > /rust-target \
    && rustup target add "$(cat /rust-target)"
WORKDIR /src
# The whole workspace (.dockerignore leaves out target/, .git/, .venv/): Cargo reads every
# member's manifest and every declared bench target even to build one binary.
COPY . .
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CC_aarch64_unknown_linux_musl=musl-gcc
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(cat /rust-target)" \
    && cargo build --profile dist --locked --package locust-operator --bin locust-operator \
        --target "$target" \
    && install -D -m 0555 "target/$target/dist/locust-operator" /out/locust-operator \
    && /out/locust-operator --version

# ---------------------------------------------------------------------------------------------
# Run: distroless/static (CA certificates, /etc/passwd with `nonroot`, a writable /tmp; no
# shell, no libc needed by a static binary).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/locust-operator /locust-operator
USER 65532:65532
# Webhooks (HTTPS), metrics, probes: the defaults of --webhook-bind-address,
# --metrics-bind-address and --health-probe-bind-address.
EXPOSE 9443 8080 8081
ENTRYPOINT ["/locust-operator"]
CMD ["run"]
