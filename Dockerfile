# The image of `swarmdeck operator` (assets/deploy/deployment.yaml).
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin swarmdeck

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/swarmdeck /usr/local/bin/swarmdeck
ENTRYPOINT ["/usr/local/bin/swarmdeck"]
CMD ["operator"]
