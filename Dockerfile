# s3ftpd container image: a static binary on distroless, running as a
# non-root user, with /data for the embedded store.
#
#   docker build -t s3ftpd .                                  # with the embedded store
#   docker build --build-arg TAGS=noembed -t s3ftpd:s3 .      # S3 only: smaller (docs/operations.md)
#   docker run -p 2121:2121 -p 50000-50009:50000-50009 -p 9121:9121 \
#     -e S3FTPD_PASSIVE_ADDRESS=<the host's IP> -v s3ftpd-data:/data s3ftpd
#
# See docs/operations.md "Docker".
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TAGS=""
ARG VERSION=dev
RUN go build -trimpath -tags "${TAGS}" -ldflags "-s -w -X main.buildVersion=${VERSION}" -o /out/s3ftpd ./cmd/s3ftpd \
 && /out/s3ftpd check-config --config examples/docker/s3ftpd.yaml \
 && mkdir -p /out/data

# static-debian12 has CA certificates (for https S3 endpoints) and tzdata;
# :nonroot runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/s3ftpd /usr/local/bin/s3ftpd
COPY --from=build --chown=65532:65532 /out/data /data
COPY examples/docker/s3ftpd.yaml /etc/s3ftpd/s3ftpd.yaml
USER 65532:65532
VOLUME ["/data"]
# control, passive ports, ops (/healthz /readyz /metrics /status)
EXPOSE 2121 50000-50009 9121
ENTRYPOINT ["/usr/local/bin/s3ftpd"]
CMD ["--config", "/etc/s3ftpd/s3ftpd.yaml"]
