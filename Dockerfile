# hotpath, CPU image: the single executable (docs/sea.md) on Debian bookworm-slim, run as a
# non-root user, with the demo config and models for `docker run`. Kubernetes mounts its
# own config over /etc/hotpath (deploy/kubernetes/, docs/kubernetes.md).
#
#   docker build -t hotpath:0.1.0 .
#   podman build --format docker -t hotpath:0.1.0 .   (the OCI format has no HEALTHCHECK)
#   podman run --rm -p 8080:8080 hotpath:0.1.0
#
# The two base images are arguments so that a build without a registry can name local
# stand-ins (docs/kubernetes.md, "Building the image"). The runtime image must have the
# build image's glibc or newer: the executable is the build image's node.
# (For the CUDA build use an nvidia/cuda devel image with Node 20 as BUILD_IMAGE, run
# `npm run build:cuda` before build:sea, and an nvidia/cuda runtime image as RUNTIME_IMAGE.)
ARG BUILD_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# node-gyp builds against the image's own Node headers instead of downloading them.
ENV npm_config_nodedir=/usr/local \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json binding.gyp CMakeLists.txt tsconfig.json tsconfig.build.json ./
COPY native ./native
COPY src ./src
COPY scripts/build-sea.mjs ./scripts/build-sea.mjs
# npm ci builds the addon (install: node-gyp rebuild) and dist/ (prepare: tsc); build:sea
# bundles them, uWebSockets.js and onnxruntime into dist/hotpath.
RUN npm ci && npm run build:sea && ./dist/hotpath --help > /dev/null

FROM ${RUNTIME_IMAGE}
# hotpath runs as uid 10001. /var/lib/hotpath: the state (--data-dir); /var/cache/hotpath:
# the executable's native files, written at the first start (must allow exec mappings).
RUN groupadd --gid 10001 hotpath \
 && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin hotpath \
 && mkdir -p /var/lib/hotpath /var/cache/hotpath /etc/hotpath \
 && chown 10001:10001 /var/lib/hotpath /var/cache/hotpath
COPY --from=build /src/dist/hotpath /usr/local/bin/hotpath
COPY hotpath.yaml /app/hotpath.yaml
COPY models /app/models
WORKDIR /app
ENV HOTPATH_CACHE_DIR=/var/cache/hotpath
USER 10001:10001
EXPOSE 8080
# Healthy = ready to serve (GET /readyz answers 200): started, models loaded, not draining.
# No curl in the image: bash's /dev/tcp speaks the one request. HOTPATH_PORT, when set,
# is also the port serve listens on.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HOTPATH_PORT:-8080} && printf 'GET /readyz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/hotpath"]
CMD ["serve", "--config", "/app/hotpath.yaml", "--host", "0.0.0.0"]
