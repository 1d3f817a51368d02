# One small container: a static-ish release binary on a distroless base (glibc, CA certificates,
# non-root user). Build: docker build -t liftgate .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p liftgate && cp target/release/liftgate /liftgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /liftgate /usr/local/bin/liftgate
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/liftgate"]
CMD ["serve", "--config", "/etc/liftgate/liftgate.yaml"]
