import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The dashboard talks only to the gateway's /api/v1. In development, point
// SIGHTLINE_API at a running `sightline serve` (default :8080) and Vite
// proxies the API to it, so cookies stay same-origin as in production.
const api = process.env.SIGHTLINE_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/s/": { target: api, changeOrigin: false },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
