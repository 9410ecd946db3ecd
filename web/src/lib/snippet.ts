/** installSnippet is the one line a site owner pastes into their pages' <head>. */
export function installSnippet(origin: string, siteKey: string): string {
  const base = origin.replace(/\/+$/, "");
  return `<script async src="${base}/s/${encodeURIComponent(siteKey)}.js"></script>`;
}

/** normalizeDomain turns what people paste ("https://www.Shop.com/path") into a host pattern. */
export function normalizeDomain(input: string): string {
  let s = input.trim().toLowerCase();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//, "");
  s = s.replace(/[/?#].*$/, "");
  s = s.replace(/:\d+$/, "");
  return s.replace(/\.$/, "");
}
