// The path prefix the dashboard is served under. Behind a reverse proxy
// that strips a prefix (server.public-url https://example.com/sightline),
// the gateway names it in index.html's <base href="/sightline/">: the
// build's relative asset URLs resolve against it, and so must every
// absolute URL the dashboard makes itself — API calls, streams, captured
// assets, and the links it hands out. Without a <base> (Vite's dev server)
// the dashboard is at the root.

/** baseFromHref reads a <base href> ("/sightline/" or a full URL) as a prefix without its trailing slash ("" for the root). */
export function baseFromHref(href: string | null | undefined): string {
  if (!href) return "";
  let path: string;
  try {
    path = new URL(href, "http://dashboard.invalid/").pathname;
  } catch {
    return "";
  }
  return path.replace(/\/+$/, "");
}

/** basePath is this page's prefix ("" at the root). */
export const basePath: string =
  typeof document === "undefined" ? "" : baseFromHref(document.querySelector("base")?.getAttribute("href"));

/** withBase prefixes a root-relative path ("/api/v1/...") with basePath. */
export function withBase(path: string, base: string = basePath): string {
  return base + path;
}

/** withoutBase is the path a request URL's pathname names below basePath (what the gateway sees). */
export function withoutBase(pathname: string, base: string = basePath): string {
  return base && (pathname === base || pathname.startsWith(base + "/")) ? pathname.slice(base.length) || "/" : pathname;
}
