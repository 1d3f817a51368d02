# syntax=docker/dockerfile:1
#
# Liftgate: one static (musl) binary on distroless/static. Non-root (65532), no shell, and
# nothing written outside the mounted /data and /tmp, so it runs with a read-only root.
#
#   docker build -t liftgate .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/liftgate:TAG --push .
#
# Base images are pinned by digest (multi-arch index digests). They were taken from public
# build logs and Dockerfiles, not resolved from this repository's CI, which has no registry
# access: rust:1.95-bookworm as Docker resolved it in 2026, distroless/static-debian12:nonroot
# as of 2026-08-26. Refresh both with `crane digest rust:1.95-bookworm` and
# `crane digest gcr.io/distroless/static-debian12:nonroot` (or let Renovate do it).
FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS build

# musl-gcc for the C parts (aws-lc, bundled SQLite). Not version-pinned: the digest pins the
# image, and Debian drops superseded package versions from its mirrors, which would break the
# build on the next security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*

# The build stage runs on the target platform (buildx emulates it), so the musl target is the
# machine's own architecture.
RUN case "$(uname -m)" in \
      x86_64) echo x86_64-unknown-linux-musl ;; \
      aarch64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;; \
    esac > /rust-target \
    && rustup target add "$(cat /rust-target)"

WORKDIR /src
# Only what the build reads (.dockerignore keeps target/, data/ and .git out of the context).
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
COPY policy policy
COPY gateway gateway
COPY aws aws
COPY adapters adapters
COPY liftgate liftgate
COPY tests tests
COPY bench bench
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p liftgate --target "$(cat /rust-target)" \
    && cp "target/$(cat /rust-target)/release/liftgate" /liftgate

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /liftgate /usr/local/bin/liftgate
USER 65532:65532
# 8080: server.listen (Slack, Teams, webhook API); 9090: server.admin_listen (health, metrics).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/liftgate"]
CMD ["serve", "--config", "/etc/liftgate/liftgate.yaml"]
