# The bot's image: a static binary on scratch with CA roots and the
# nonroot user (65532), the same image `make image` writes as an OCI archive
# without a Docker engine (tools/image). Build: docker build --build-arg VERSION=v1.2.3 .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/bot ./cmd/bot
RUN mkdir -p /out/etc /out/tmp /out/var/lib/failover /out/home/nonroot \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/etc/group \
 && chmod 1777 /out/tmp && chmod 700 /out/var/lib/failover /out/home/nonroot \
 && chown 65532:65532 /out/var/lib/failover /out/home/nonroot

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build /out/tmp /tmp
COPY --from=build /out/var /var
COPY --from=build /out/home /home
COPY --from=build /out/bot /bot
ENV PATH=/ SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt HOME=/home/nonroot
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 9090
ENTRYPOINT ["/bot"]
CMD ["serve"]
