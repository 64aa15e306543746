# syntax=docker/dockerfile:1
# Homewatch: HTTP API on 3000, embedded MQTT broker on 1883, SQLite and keys in /data.
#   docker build -t homewatch .
#   docker run -p 3000:3000 -p 1883:1883 -v homewatch-data:/data -e RPM_ADMIN_TOKEN=... homewatch
#   docker exec <container> node dist/cli.js create-admin --email ann@agency.example --name "Ann Admin"
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: production dependencies, with the toolchain for better-sqlite3's native addon ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 first tries a prebuilt binary and falls back to node-gyp, which needs these.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-assets.ts ./scripts/
COPY src ./src
# Compiled once here; the image runs JavaScript, the service and the admin CLI alike
# (`docker exec <container> node dist/cli.js --help`). Dev dependencies go after the build.
RUN npm run build \
 && npm prune --omit=dev \
 && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to node and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    MQTT_PORT=1883 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY rules ./rules
# Created and chowned before VOLUME so that a new named volume starts out owned by `node`.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 3000 1883
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--"]
# node itself, not `npm start`, so the signals reach the service; the flags are package.json's config.nodeFlags.
CMD ["node", "--enable-source-maps", "dist/main.js"]
