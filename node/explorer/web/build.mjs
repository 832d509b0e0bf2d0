// Builds the explorer into dist/: the app bundled by esbuild from src/main.js (every library
// from node_modules, nothing from a CDN at run time), the static files, and the map's shapes
// (world-atlas's countries at 1:110m), so the node serves one folder and the page works offline.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";

const dist = new URL("./dist/", import.meta.url);
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outfile: "dist/app.js",
  logLevel: "warning",
});
cpSync(new URL("./static/", import.meta.url), dist, { recursive: true });
cpSync(
  new URL("./node_modules/world-atlas/countries-110m.json", import.meta.url),
  new URL("./countries-110m.json", dist),
);
console.log("explorer built into dist/");
