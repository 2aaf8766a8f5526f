# The chat service image: build in one stage, run the compiled output on a slim Node.js.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client ./client
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# Over HTTPS when the node serves TLS itself (TLS_CERT_FILE); a liveness check on loopback, so
# the certificate's name is not checked.
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "require(process.env.TLS_CERT_FILE?'node:https':'node:http').get({host:'127.0.0.1',port:process.env.PORT||3000,path:'/healthz',rejectUnauthorized:false,timeout:2500},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"
# Run node directly (not npm) so SIGTERM reaches the process and the drain runs.
CMD ["node", "--enable-source-maps", "--import", "./dist/server/telemetry.js", "dist/server/server.js"]
