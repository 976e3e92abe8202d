# The platform in one image, for people with Docker: `docker compose up`.
# The local provider's binaries (Kubernetes, etcd, kwok, Karpenter) are built from the Go
# module proxy in a build stage, so the image starts a cluster in seconds with
# no Go and no network at run time.

FROM golang:1.26-bookworm AS go

FROM node:24-bookworm AS binaries
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH \
    CDL_CACHE_DIR=/opt/container-day-labs
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY cluster ./cluster
COPY contract ./contract
RUN CDL_REAL_NODE=off node cluster/src/local/prebuild.ts && rm -rf /opt/container-day-labs/build /root/.cache/go-build /go/pkg/mod

# The lab server alone, for a cluster you have (deploy/helm: CDL_PROVIDER=external,
# shells in pods): the site and the server's bundle made at build time, run as a
# non-root user on a read-only root. `docker build --target server -t <registry>/container-day-labs:0.1.0 .`
FROM node:24-bookworm-slim AS server
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node scripts/build-site.ts \
 && node --input-type=module -e "await (await import('./scripts/server-bundle.ts')).serverBundle(console.log)" \
 && npm prune --omit=dev --no-audit --no-fund
USER 65532:65532
ENV CDL_PROVIDER=external \
    CDL_MODE=workshop \
    TERMINAL_SHELLS=pods \
    HOST=0.0.0.0 \
    PORT=4321
EXPOSE 4321
CMD ["node", "--max-semi-space-size=1", ".build/server.mjs"]

FROM node:24-bookworm-slim AS app
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap socat jq ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
COPY --from=binaries /opt/container-day-labs /opt/container-day-labs
# No real node in here: an unprivileged container cannot run a kubelet (its cgroups are
# read-only), so the labs that need real containers say so; run those with `npm start` on Linux.
ENV CDL_CACHE_DIR=/opt/container-day-labs \
    CDL_PROVIDER=local \
    CDL_REAL_NODE=off \
    HOST=0.0.0.0 \
    PORT=4321
EXPOSE 4321
CMD ["node", "scripts/serve.ts"]
