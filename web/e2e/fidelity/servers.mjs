// Test plumbing for the fidelity test: the templates' own files served on
// one loopback origin (with the tracker snippet inserted), and a local "CDN"
// on another origin answering the public CDN URLs those pages reference from
// npm packages, so nothing leaves the machine and cross-origin behaviour
// (fonts, stylesheets) is as on the real web.
import { readFileSync, existsSync, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const modules = path.resolve(path.dirname(require.resolve("bootstrap/package.json")), "..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".eot": "application/vnd.ms-fontobject",
};

/** The public hosts the pages load from, all answered by the local CDN. */
export const CDN_HOSTS = [
  "cdn.jsdelivr.net",
  "cdnjs.cloudflare.com",
  "use.fontawesome.com",
  "fonts.googleapis.com",
  "fonts.gstatic.com",
  "cdn.startbootstrap.com",
  "source.unsplash.com",
];

function pkgDir(name) {
  return path.join(modules, name);
}

function installedVersion(name) {
  return JSON.parse(readFileSync(path.join(pkgDir(name), "package.json"), "utf8")).version;
}

// Google Fonts' family names for the @fontsource packages (Muli is Mulish's old name).
const FONTSOURCE_ALIAS = { muli: "mulish" };

/**
 * googleFontsCss answers the @font-face rules Google Fonts would for a css or
 * css2 query, pointing at the matching @fontsource package's latin files.
 */
export function googleFontsCss(url, cdnOrigin) {
  const u = new URL(url, "http://x");
  const css2 = u.pathname.endsWith("/css2");
  const families = css2 ? u.searchParams.getAll("family") : (u.searchParams.get("family") ?? "").split("|");
  const display = u.searchParams.get("display");
  const faces = [];
  for (const spec of families) {
    if (!spec) continue;
    const [name, axes = ""] = spec.split(":");
    const id = name.trim().toLowerCase().replace(/\s+/g, "-");
    const pkg = FONTSOURCE_ALIAS[id] ?? id;
    const variants = []; // [weight, style]
    if (css2) {
      const [keys, values] = axes.split("@");
      if (!values) variants.push([400, "normal"]);
      else {
        const k = keys.split(",");
        for (const tuple of values.split(";")) {
          const v = tuple.split(",");
          const ital = k.includes("ital") ? v[k.indexOf("ital")] === "1" : false;
          const wght = k.includes("wght") ? Number(v[k.indexOf("wght")]) : 400;
          variants.push([wght, ital ? "italic" : "normal"]);
        }
      }
    } else if (!axes) variants.push([400, "normal"]);
    else
      for (const v of axes.split(",")) {
        const m = /^(\d+)?(i|italic)?$/.exec(v.trim());
        if (m) variants.push([Number(m[1] ?? 400), m[2] ? "italic" : "normal"]);
      }
    for (const [weight, style] of variants) {
      const file = `${pkg}-latin-${weight}-${style}.woff2`;
      if (!existsSync(path.join(pkgDir(`@fontsource/${pkg}`), "files", file))) continue;
      faces.push(
        `@font-face {\n  font-family: '${name.trim()}';\n  font-style: ${style};\n  font-weight: ${weight};\n` +
          (display ? `  font-display: ${display};\n` : "") +
          `  src: url(${cdnOrigin}/fonts.gstatic.com/fontsource/${pkg}/${file}) format('woff2');\n}\n`,
      );
    }
  }
  return faces.join("");
}

// cdnFile maps a CDN URL (host and path) to a file of an npm package, or
// answers generated content.
function cdnFile(host, p, cdnOrigin, fallbackImage) {
  const parts = p.split("/").filter(Boolean);
  switch (host) {
    case "cdn.jsdelivr.net": {
      // /npm/<pkg>@<version>/<path>, the installed version only.
      if (parts[0] !== "npm") return null;
      const scoped = parts[1].startsWith("@");
      const spec = scoped ? `${parts[1]}/${parts[2]}` : parts[1];
      const at = spec.lastIndexOf("@");
      const name = spec.slice(0, at);
      if (installedVersion(name) !== spec.slice(at + 1)) return null;
      return { file: path.join(pkgDir(name), ...parts.slice(scoped ? 3 : 2)) };
    }
    case "use.fontawesome.com": {
      // /releases/v<version>/<path>
      if (parts[0] !== "releases" || parts[1] !== `v${installedVersion("@fortawesome/fontawesome-free")}`) return null;
      return { file: path.join(pkgDir("@fortawesome/fontawesome-free"), ...parts.slice(2)) };
    }
    case "cdnjs.cloudflare.com": {
      // The templates pin SimpleLightbox 2.1.0, which npm does not have; 2.1.3 is the nearest.
      if (parts[2] === "SimpleLightbox") {
        const f = { "simpleLightbox.min.css": "simple-lightbox.min.css", "simpleLightbox.min.js": "simple-lightbox.min.js" }[parts[4]];
        return f ? { file: path.join(pkgDir("simplelightbox"), "dist", f) } : null;
      }
      return null;
    }
    case "fonts.googleapis.com":
      return { body: googleFontsCss(p, cdnOrigin), type: TYPES[".css"] };
    case "fonts.gstatic.com":
      // /fontsource/<pkg>/<file>, written by googleFontsCss.
      if (parts[0] !== "fontsource") return null;
      return { file: path.join(pkgDir(`@fontsource/${parts[1]}`), "files", parts[2]) };
    case "cdn.startbootstrap.com":
      // Start Bootstrap's form-submission helper is not on npm; it draws nothing.
      return { body: "/* sb-forms: not served locally */\n", type: TYPES[".js"] };
    case "source.unsplash.com":
      // A fixed local picture in place of a random photo.
      return { file: fallbackImage };
  }
  return null;
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

// sendFile answers a file, or the byte range asked for (as web servers do; a
// video cannot be seeked without it).
function sendFile(res, file, extraHeaders = {}, range = undefined) {
  if (!file || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, extraHeaders);
    res.end("not found");
    return;
  }
  const body = readFileSync(file);
  const headers = { "Content-Type": TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream", "Accept-Ranges": "bytes", ...extraHeaders };
  const m = /^bytes=(\d*)-(\d*)$/.exec(range ?? "");
  if (m && (m[1] || m[2])) {
    const start = m[1] ? Number(m[1]) : Math.max(0, body.length - Number(m[2]));
    const end = m[1] && m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
    if (start > end || start >= body.length) {
      res.writeHead(416, { "Content-Range": `bytes */${body.length}`, ...extraHeaders });
      res.end();
      return;
    }
    res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${body.length}` });
    res.end(body.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, headers);
  res.end(body);
}

/** startCdn serves CDN_HOSTS' URLs at <origin>/<host>/<path> with CORS, as the CDNs do. */
export async function startCdn(fallbackImage) {
  const misses = [];
  let origin = "";
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    const [, host, ...rest] = u.pathname.split("/");
    const cors = { "Access-Control-Allow-Origin": "*" };
    let hit = null;
    try {
      // Only Google Fonts' CSS depends on the query; elsewhere it is a cache buster.
      const query = host === "fonts.googleapis.com" ? u.search : "";
      hit = CDN_HOSTS.includes(host) ? cdnFile(host, `/${rest.join("/")}${query}`, origin, fallbackImage) : null;
    } catch {
      hit = null;
    }
    if (hit?.body !== undefined) {
      res.writeHead(200, { "Content-Type": hit.type, ...cors });
      res.end(hit.body);
      return;
    }
    if (!hit?.file || !existsSync(hit.file)) misses.push(req.url);
    sendFile(res, hit?.file, cors);
  });
  origin = await listen(server);
  return { origin, misses, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) };
}

/** rewriteCdnHosts points the page's CDN URLs at the local CDN. */
export function rewriteCdnHosts(html, cdnOrigin) {
  let out = html;
  for (const host of CDN_HOSTS) out = out.replace(new RegExp(`(https?:)?//${host.replace(/\./g, "\\.")}(?=[/"'])`, "g"), `${cdnOrigin}/${host}`);
  return out;
}

/**
 * startSite serves each template's directory under /<name>/ with the
 * tracker snippet as the first thing in <head> and CDN hosts rewritten.
 */
export async function startSite(templates, cdnOrigin, snippet) {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    const [, name, ...rest] = decodeURIComponent(u.pathname).split("/");
    const t = templates.find((x) => x.name === name);
    if (!t) {
      res.writeHead(404);
      res.end();
      return;
    }
    let rel = rest.join("/") || "index.html";
    const file = path.resolve(t.root, rel);
    if (!file.startsWith(path.resolve(t.root) + path.sep)) {
      res.writeHead(403);
      res.end();
      return;
    }
    if (file.endsWith(".html") && existsSync(file)) {
      const html = rewriteCdnHosts(readFileSync(file, "utf8"), cdnOrigin).replace(/<head([^>]*)>/i, (m) => `${m}\n${snippet()}`);
      res.writeHead(200, { "Content-Type": TYPES[".html"] });
      res.end(html);
      return;
    }
    sendFile(res, file, {}, req.headers.range);
  });
  const origin = await listen(server);
  return { origin, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) };
}

/** moduleDir is an installed npm package's directory. */
export const moduleDir = pkgDir;
