FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json server.ts ./
COPY src ./src
COPY plugins ./plugins
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "server.ts"]
