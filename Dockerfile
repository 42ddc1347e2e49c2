# syntax=docker/dockerfile:1
#
# The jobq image: `jobq serve` (API and a worker) by default; `jobq api`, `jobq worker` and
# `jobq migrate` as the command. Needs DATABASE_URL (there is no embedded PostgreSQL in the image) and,
# since the API listens on 0.0.0.0, JOBQ_API_KEYS.
#
#   docker build -t pgjobq .
#   docker run --rm -p 8080:8080 -e DATABASE_URL -e JOBQ_API_KEYS pgjobq
#
# The build stage compiles and packs the package exactly as it is published; the runtime stage
# installs that tarball the way a user's `npm install --omit=dev --omit=optional` does (the package
# test, test/package/, runs that layout), so the image runs what npm users get, nothing else.
# Checked by test/deploy/dockerfile.test.ts.

# The Node 22 release the tests run on (the `node` devDependency); both stages use it.
FROM node:22.23.3-bookworm-slim AS build
WORKDIR /build
# Dependencies first, so a change in the sources reuses this layer. No install scripts: nothing the
# build needs runs one, and `prepare` (the build) runs below, once the sources are there.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && mv "$(npm pack --ignore-scripts --silent)" jobq.tgz

FROM node:22.23.3-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /build/jobq.tgz /tmp/jobq.tgz
# The tarball installed into a project of its own, as the package test installs it: production
# dependencies only, so no TypeScript, no tsx and no embedded PostgreSQL (an optional dependency).
# Not `npm install --global`: it ignores --omit for a tarball (npm/cli#8284) and would add the
# embedded PostgreSQL. No install scripts run as root; none of the runtime dependencies has one.
RUN npm init --yes >/dev/null \
  && npm install --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund /tmp/jobq.tgz \
  && npm cache clean --force \
  && rm /tmp/jobq.tgz \
  && ln -s /app/node_modules/.bin/jobq /usr/local/bin/jobq \
  && install -d -o node -g node /var/lib/jobq
# The e-mail outbox (send_email without SMTP_URL) lives in the data folder, writable by the node user only.
WORKDIR /var/lib/jobq
ENV HOST=0.0.0.0 \
    PORT=8080 \
    JOBQ_METRICS_PORT=9464 \
    JOBQ_DATA_DIR=/var/lib/jobq
# The API (serve, api) and a worker's /metrics (worker; JOBQ_METRICS_HOST=0.0.0.0 to reach it from outside).
EXPOSE 8080 9464
USER node
# Ready: the API answers and the database schema is current. No curl in the slim image: Node's fetch.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# jobq stops claiming, lets running jobs finish for JOBQ_SHUTDOWN_GRACE_MS (30 s), then exits 0:
# give the container longer than that (docker run --stop-timeout 40, compose stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["jobq"]
CMD ["serve"]
