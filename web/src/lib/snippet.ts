/** installSnippet is the one line a site owner pastes into their pages' <head>. */
export function installSnippet(origin: string, siteKey: string): string {
  const base = origin.replace(/\/+$/, "");
  return `<script async src="${base}/s/${encodeURIComponent(siteKey)}.js"></script>`;
}

/** SnippetBase is where the snippet points and what to say about it. */
export interface SnippetBase {
  base: string;
  /** Why this base will not do for a real site, if it will not. */
  warning?: "unset" | "http";
}

/**
 * snippetBase: the configured public ingest URL (server.public-url), else
 * the dashboard's own origin — fine on this machine, but a real site's
 * visitors would send to their own "localhost", and an http endpoint is
 * mixed content on an https site.
 */
export function snippetBase(publicIngestUrl: string | undefined, origin: string): SnippetBase {
  if (publicIngestUrl) return { base: publicIngestUrl, warning: publicIngestUrl.startsWith("https://") ? undefined : "http" };
  return { base: origin, warning: "unset" };
}

/** normalizeDomain turns what people paste ("https://www.Shop.com/path") into a host pattern. */
export function normalizeDomain(input: string): string {
  let s = input.trim().toLowerCase();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//, "");
  s = s.replace(/[/?#].*$/, "");
  s = s.replace(/:\d+$/, "");
  return s.replace(/\.$/, "");
}
