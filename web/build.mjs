// Bundles src/ into the folder given as the first argument: app.js and app.css, minified.
// crates/aura-web/build.rs runs this with Cargo's OUT_DIR and embeds the results in the binary.
import { build } from "esbuild";

const outdir = process.argv[2];
if (!outdir) {
  console.error("usage: node build.mjs <output folder>");
  process.exit(2);
}

await build({
  entryPoints: { app: "src/app.js", style: "src/app.css" },
  outdir,
  bundle: true,
  minify: true,
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "eof",
  logLevel: "warning",
});
