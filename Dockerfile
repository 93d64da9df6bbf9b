# spool: the API and workers in one image (`serve`, `serve --no-workers`, `worker`). No build step: the
# TypeScript sources are compiled as they load by bin/typescript-hooks.js (esbuild, a runtime dependency;
# decision 0033). See docs/deploy.md.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Runtime dependencies only, from the same lockfile as development (node-llama-cpp and better-sqlite3 fetch
# their prebuilt binaries here).
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
# Data (SQLite, uploads, results, downloaded models) lives in a volume owned by the unprivileged user.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
ENV SPOOL_DATA_DIR=/data SPOOL_HOST=0.0.0.0 SPOOL_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.SPOOL_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "bin/spool.js"]
CMD ["serve"]
