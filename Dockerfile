# The release-promoter worker, compiled. The build stage installs everything and runs
# `npm run build` (dist/: the JavaScript and the prebuilt workflow bundle); the image keeps the
# production dependencies and dist/ only, and runs node on it: no TypeScript loader, no sources.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied in.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
# git is needed for promotions.
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` needs the dev dependencies (tsc); the build stage already ran it.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist ./dist
RUN mkdir -p /var/lib/release-promoter && chown node:node /var/lib/release-promoter
USER node
# The flags of src/worker-command.ts (WORKER_V8_FLAGS).
CMD ["node", "--optimize-for-size", "dist/worker.js"]
