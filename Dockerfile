# syntax=docker/dockerfile:1
# Node 24 LTS, pinned to a minor (keep in step with .nvmrc and the Node 24 that .ci/run tests with).
ARG NODE_IMAGE=node:24.22-slim

# Build: compile the TypeScript and copy the Lua scripts (npm run build) with the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json server.ts ./
COPY src ./src
COPY plugins ./plugins
COPY scripts ./scripts
COPY tools ./tools
RUN npm run build

# Runtime: plain JavaScript and the production dependencies only (no tsx, esbuild, typescript, vitest).
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# Liveness without curl (not in slim images): GET /healthz on the service's own port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(3000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The service. Also in the image: the audit CLI, `node dist/scripts/audit.js --help`, and the Dysmsapi
# double for trying SMS_PROVIDER=aliyun locally, `node dist/tools/fake-dysmsapi/cli.js`.
CMD ["node", "dist/server.js"]
