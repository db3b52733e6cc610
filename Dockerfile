# The release-promoter worker. git is needed for promotions; the TypeScript runs through tsx.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN mkdir -p /var/lib/release-promoter && chown node:node /var/lib/release-promoter
USER node
CMD ["node", "--optimize-for-size", "--require", "tsx/cjs", "src/worker.ts"]
