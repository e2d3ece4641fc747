# solar-iot worker (and one-shot migrations: see docker-compose.yml).
# Runs the TypeScript sources through tsx, as `npm start` does; no build step. The image holds only
# what runs in production: src/ and the migrations, with the production dependencies. Development
# tooling (tools/: npm start, fault injection), tests and benchmarks stay out.
# Node 24, as CI runs the suite on (.ci/run); package.json's engines allow 22 too.
FROM node:24-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, for layer caching. Optional dependencies stay: esbuild (tsx) needs its
# platform package; Temporal's native bridge ships prebuilt for linux-x64/arm64 glibc.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src

USER node
# SIGTERM (docker stop) reaches node directly: the worker drains, then exits.
CMD ["node", "--import", "tsx", "src/worker.ts"]
