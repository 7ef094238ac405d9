# syntax=docker/dockerfile:1
# The connector image: router, deliverer, migrate (and the admin API) from one build.
# Node 24 is the current LTS line.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY connector ./connector
COPY schemas ./schemas
COPY admin-api ./admin-api
RUN npm run build \
 && mkdir -p dist/schemas/avro dist/connector/db/migrations \
 && cp schemas/*.json dist/schemas/ \
 && cp schemas/avro/*.avsc dist/schemas/avro/ \
 && cp connector/db/migrations/*.sql dist/connector/db/migrations/

FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.SERVER_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/connector/main.js"]
CMD ["--help"]
