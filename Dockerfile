# One image, three roles (ROLE=api|worker|migrate). Built in two stages so the runtime image
# carries production dependencies, compiled JavaScript and the files read at runtime only
# (limiter Lua scripts, SQL migrations, the example catalog).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY app ./app
# The operator (dist/app/operator.js) renders the chart from the cdk8s constructs at runtime.
COPY cdk8s ./cdk8s
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# tsc copies no .lua: the limiter scripts go next to the compiled module, where
# app/admission/store.ts looks first (__dirname/lua).
COPY app/admission/lua/*.lua ./dist/app/admission/lua/
# ROOT (app/paths.ts) is the first directory upward with package.json and migrations/: /app.
COPY migrations ./migrations
COPY examples ./examples
# The alert rules the operator's render turns into the PrometheusRule, as `make chart` does.
COPY dashboards/rules/alerts.yaml ./dashboards/rules/alerts.yaml
# The gRPC event ingest loads its .proto files at start (app/events/grpc.ts: <ROOT>/proto).
COPY proto ./proto
# Numeric, non-root, and the same uid/gid the chart runs as (podSecurity.runAsUser).
# Nothing is written at runtime outside /tmp, so the root filesystem can be read-only.
USER 10001:10001
EXPOSE 8080 9090 6565
# Node itself is PID 1 and the service handles SIGTERM (drain, then exit); no npm wrapper.
# Health is checked by the Kubernetes probes on the ops port, not by the image.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/app/main.js"]
