# solar-iot: one image for every role, each a `node` command on the compiled code (docker-compose.yml
# runs them all):
#
#   worker         node dist/worker.js           (the default CMD)
#   HTTP API       node dist/api/main.js
#   ingest         node dist/ingest/main.js
#   codec server   node dist/codec/main.js
#   migrations     node dist/db/migrate.js       (one-shot, DATABASE_URL)
#   CLI            node bin/solar-iot.js <command>
#
# Built in stages: `build` compiles src/ into dist/ with the prebuilt workflow bundle
# (`npm run build`), `deps` installs the production dependencies; the image holds only their
# output, package.json, the migrations and bin/. No TypeScript, tsx, tests or development tooling.
# Node 24, as CI runs the suite on (.ci/run); package.json's engines allow 22 too.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
# Optional dependencies stay: Temporal's native bridge ships prebuilt for linux-x64/arm64 glibc.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Owned by root, read-only for the user the processes run as.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY drizzle ./drizzle
COPY bin ./bin

# The base image's `node` user (uid and gid 1000), by number: Kubernetes' runAsNonRoot checks the
# image's USER only when it is numeric, and refuses to start a pod whose USER is a name.
USER 1000:1000
# The worker's check (its /healthz on WORKER_METRICS_PORT, unless 0, and Temporal reachable with its
# settings); compose gives each role its own
# (`node dist/healthcheck.js api|ingest|codec`, src/healthcheck.ts).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node", "dist/healthcheck.js", "worker"]
# SIGTERM (docker stop) reaches node directly: the worker drains, then exits.
CMD ["node", "dist/worker.js"]
