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

/**
 * domainProblem says in plain words what is wrong with a domain as the user
 * typed it (after normalizeDomain), or undefined if accounts will take it.
 * It mirrors the server's rule (sitedomain.Normalize) so the form answers
 * before sending; what only the server can judge (a wildcard over a public
 * suffix such as *.co.uk) it still says itself.
 */
export function domainProblem(domain: string): string | undefined {
  const d = domain.trim().toLowerCase().replace(/\.$/, "");
  if (d === "") return "Enter the domain of your website, such as shop.example.com.";
  if (d.length > 253) return "That is too long for a domain name (at most 253 characters).";
  if (/\s/.test(d)) return "A domain name can't contain spaces. Enter just the host, such as shop.example.com.";
  if (/[/?#@:[\]\\]/.test(d)) return "Enter just the host name, such as shop.example.com: no path, port or user name.";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(d)) return undefined; // an IPv4 address
  const labels = (d.startsWith("*.") ? d.slice(2) : d).split(".");
  if (labels.some((l) => l.includes("*"))) return "A wildcard can only be the whole first part, as in *.example.com.";
  if (d.startsWith("*.") && labels.length < 2) return `${d} would cover too much: use at least *.example.com.`;
  if (labels.some((l) => l === "")) return "A domain name can't start or end with a dot, or have two dots in a row.";
  if (labels.some((l) => !/^[\p{L}\p{M}\p{N}-]+$/u.test(l))) return "A domain name can only contain letters, digits, hyphens (-) and dots.";
  if (labels.some((l) => l.startsWith("-") || l.endsWith("-"))) return "A part of a domain name can't start or end with a hyphen (-).";
  if (labels.some((l) => l.length > 63)) return "Each part of a domain name (between dots) can be at most 63 characters long.";
  return undefined;
}
