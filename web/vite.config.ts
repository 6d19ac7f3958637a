// Builds each page of the web UI into plugin_host/webui/dist/, which the Python package
// ships (production needs no node): the marketplace (served by the registry) and the
// host console (served by the host).
// ops/webui.py runs this and checks the budgets.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";

const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  plugins: [react(), tailwindcss()],
  root: resolve(here, "src"),
  base: "/web/",
  resolve: { alias: { "@": resolve(here, "src") } },
  build: {
    outDir: resolve(here, "../plugin_host/webui/dist"),
    emptyOutDir: true,
    sourcemap: false,
    rollupOptions: {
      input: {
        marketplace: resolve(here, "src/marketplace/index.html"),
        console: resolve(here, "src/console/index.html"),
      },
    },
  },
});
