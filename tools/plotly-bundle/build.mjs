// Builds ../../static/vendor/plotly-layerviz.min.js from index.js: `npm ci && npm run build`
// in this folder (README.md). The banner names the plotly.js version and the
// traces, which tests/test_plotly_bundle.py checks against index.js and the plotly package.
import { readFileSync } from "node:fs";
import * as esbuild from "esbuild";

const here = new URL(".", import.meta.url);
const version = JSON.parse(readFileSync(new URL("node_modules/plotly.js/package.json", here))).version;
const entry = readFileSync(new URL("index.js", here), "utf8");
const traces = [...entry.matchAll(/require\("plotly\.js\/lib\/(\w+)"\)/g)]
  .map((m) => m[1])
  .filter((name) => name !== "core");

await esbuild.build({
  entryPoints: [new URL("index.js", here).pathname],
  outfile: new URL("../../static/vendor/plotly-layerviz.min.js", here).pathname,
  bundle: true,
  minify: true,
  // What plotly.js's own build (its esbuild-config.js) sets for its dist bundles.
  format: "iife",
  globalName: "Plotly",
  target: "es2016",
  define: { global: "window", "define.amd": "false" },
  // The only stylesheet plotly.js imports is maplibre's, for map traces, which we leave out.
  loader: { ".css": "empty" },
  banner: {
    js:
      `/*! plotly.js v${version}, traces: ${traces.join(", ")}; built by layerviz's ` +
      "tools/plotly-bundle. Copyright 2012-2026, Plotly, Inc. Licensed under the MIT license. */",
  },
  logLevel: "info",
});
