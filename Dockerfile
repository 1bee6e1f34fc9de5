# CPU image: builds the addon with node-gyp and serves the shipped demo config.
# (For the CUDA build use an nvidia/cuda devel base, install Node 20 and run
# `npm run build:cuda` after `npm ci`.)
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json binding.gyp CMakeLists.txt tsconfig.json tsconfig.build.json ./
COPY native ./native
COPY src ./src
COPY scripts/build-validators.mjs ./scripts/
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build/Release/hotpath.node ./build/Release/hotpath.node
COPY --from=build /app/dist ./dist
COPY package.json hotpath.yaml ./
COPY models ./models
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--config", "hotpath.yaml", "--host", "0.0.0.0"]
