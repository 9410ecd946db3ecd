// check-bundle: the performance budget. Reads the built dashboard (dist/,
// or the directory given), measures gzipped what the first paint loads (the
// JS and CSS index.html references, with their modulepreloads) and each
// lazily loaded chunk (its JS and the CSS of the same name), prints them
// against scripts/bundle-budget.json and exits 1 when one is over.
//
//   node scripts/check-bundle.mjs [distDir]
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(here, "../dist"));
const budget = JSON.parse(readFileSync(path.join(here, "bundle-budget.json"), "utf8"));

const gz = (file) => gzipSync(readFileSync(path.join(dist, file))).length / 1000;
/** chunkName: "assets/Replay-rcw1G_Vg.js" → "Replay" (Vite's [name]-[hash]). */
const chunkName = (file) => path.basename(file).replace(/-[\w-]{8}\.(js|css)$/, "");

const html = readFileSync(path.join(dist, "index.html"), "utf8");
const initial = new Set([...html.matchAll(/(?:src|href)="(?:\.?\/)?(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]));
if (![...initial].some((f) => f.endsWith(".js"))) {
  console.error(`check-bundle: no script in ${path.join(dist, "index.html")}; build first`);
  process.exit(1);
}
const assets = readdirSync(path.join(dist, "assets"))
  .filter((f) => /\.(js|css)$/.test(f))
  .map((f) => `assets/${f}`);

const rows = [];
rows.push({ what: "initial (first paint)", files: [...initial], limit: budget.initial });
const lazy = new Map();
for (const f of assets) {
  if (initial.has(f)) continue;
  const name = chunkName(f);
  lazy.set(name, [...(lazy.get(name) ?? []), f]);
}
for (const [name, files] of [...lazy].sort()) rows.push({ what: `lazy ${name}`, files, limit: budget.lazy[name] ?? budget.lazyDefault });

let over = 0;
console.log(`bundle budget (gzipped kB) of ${path.relative(process.cwd(), dist) || "."}:`);
for (const r of rows) {
  const size = r.files.reduce((n, f) => n + gz(f), 0);
  const ok = size <= r.limit;
  if (!ok) over++;
  console.log(`  ${ok ? "ok  " : "OVER"} ${r.what.padEnd(24)} ${size.toFixed(1).padStart(7)} / ${String(r.limit).padStart(4)}  ${r.files.map((f) => path.basename(f)).join(" ")}`);
}
if (over) {
  console.error(`check-bundle: ${over} over budget (scripts/bundle-budget.json); make it smaller or lazy, or raise the budget with a reason.`);
  process.exit(1);
}
