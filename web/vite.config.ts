import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

// The dashboard talks only to the gateway's /api/v1. In development, point
// SIGHTLINE_API at a running `sightline serve` (default :8080) and Vite
// proxies the API to it, so cookies stay same-origin as in production.
const api = process.env.SIGHTLINE_API ?? "http://127.0.0.1:8080";

// dist/.gitkeep is committed so that `//go:embed all:dist` compiles in a
// fresh checkout; the build empties dist/, so put it back.
const keepPlaceholder = {
  name: "sightline-keep-dist-placeholder",
  closeBundle() {
    writeFileSync(fileURLToPath(new URL("./dist/.gitkeep", import.meta.url)), "");
  },
};

export default defineConfig({
  plugins: [react(), keepPlaceholder],
  // Relative asset URLs: the gateway's index.html names the dashboard's
  // prefix in a <base href> (server.public-url with a path behind a proxy
  // that strips it), and the assets resolve against it (src/lib/base.ts).
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Maps would triple what the binary embeds.
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // The heatmaps and the feedback preview import the tracker's own modules (tracker/src/heat.ts,
    // tracker/src/feedback/ui.ts), which lie outside web/: let the dev server read them.
    fs: { allow: [".", "../tracker/src"] },
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/s/": { target: api, changeOrigin: false },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
    // As in tracker/: no unit test measures time, and a loaded CI machine
    // must not fail a property test at vitest's 5 s default.
    testTimeout: 60_000,
  },
});
