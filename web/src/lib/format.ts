// Formatting of the API's protojson values for people.

/** parseDuration reads a protojson Duration ("12.5s", "-3s", "0.000001s") into milliseconds. */
export function parseDuration(value: string | undefined | null): number {
  if (!value) return 0;
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(value.trim());
  if (!m) return 0;
  const seconds = Number(m[2]);
  const frac = m[3] ? Number(`0.${m[3]}`) : 0;
  const ms = Math.round((seconds + frac) * 1000);
  return m[1] === "-" ? -ms : ms;
}

/** toProtoDuration writes seconds as a protojson Duration. */
export function toProtoDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) throw new RangeError(`invalid duration ${seconds}`);
  // Up to millisecond precision, without trailing zeros.
  const fixed = (Math.round(seconds * 1000) / 1000).toFixed(3).replace(/\.?0+$/, "");
  return `${fixed}s`;
}

/** formatClock formats milliseconds as a player clock: "0:07", "12:05", "1:02:03". */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  if (h > 0) return `${h}:${String(m).padStart(2, "0")}:${ss}`;
  return `${m}:${ss}`;
}

/** formatDuration formats milliseconds for a list: "45s", "3m 05s", "1h 02m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total}s`;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}m ${String(s).padStart(2, "0")}s`;
}

/** formatRelative says how long ago a time was: "just now", "5 min ago", "3 h ago", "2 days ago". */
export function formatRelative(iso: string | undefined, now: Date = new Date()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "–";
  const diff = Math.round((now.getTime() - t) / 1000);
  if (diff < 45) return "just now";
  if (diff < 3600) return `${Math.max(1, Math.round(diff / 60))} min ago`;
  if (diff < 86400) return `${Math.round(diff / 3600)} h ago`;
  const days = Math.round(diff / 86400);
  if (days < 30) return `${days} day${days === 1 ? "" : "s"} ago`;
  return new Date(t).toLocaleDateString();
}

/** formatDateTime formats an RFC 3339 time in the viewer's locale. */
export function formatDateTime(iso: string | undefined): string {
  if (!iso) return "–";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "–";
  return new Date(t).toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** countryFlag turns an ISO 3166-1 alpha-2 code into its flag emoji. */
export function countryFlag(code: string | undefined): string {
  if (!code || !/^[A-Za-z]{2}$/.test(code)) return "";
  const base = 0x1f1e6;
  const up = code.toUpperCase();
  return String.fromCodePoint(base + up.charCodeAt(0) - 65, base + up.charCodeAt(1) - 65);
}

let regionNames: Intl.DisplayNames | undefined;

/** countryName names a country code in English, or returns the code. */
export function countryName(code: string | undefined): string {
  if (!code) return "Unknown";
  try {
    regionNames ??= new Intl.DisplayNames(["en"], { type: "region" });
    return regionNames.of(code.toUpperCase()) ?? code;
  } catch {
    return code;
  }
}

/** urlPath shows a URL without its origin ("/pricing?plan=pro"), or the input if it is not a URL. */
export function urlPath(url: string | undefined): string {
  if (!url) return "";
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}${u.hash}` || "/";
  } catch {
    return url;
  }
}

/**
 * splitPath cuts a page path where a narrow column shortens it: the head
 * ("/demo/k_abc/products") may lose its end to an ellipsis, the tail (the
 * last segment with its query and hash: "/mug?x=1") stays. The end of a
 * path is what tells pages apart; a site's paths often share their start
 * (the demo shop's all begin /demo/k_<key>/).
 */
export function splitPath(path: string): { head: string; tail: string } {
  const end = path.search(/[?#]/);
  const bare = end < 0 ? path : path.slice(0, end);
  // A trailing slash belongs to the last segment ("/shop/" → "/shop/").
  const cut = bare.lastIndexOf("/", bare.length - 2);
  if (cut <= 0) return { head: "", tail: path };
  return { head: path.slice(0, cut), tail: path.slice(cut) };
}

/** plural writes "1 page", "3 pages". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/**
 * sharedPrefix is the start every path of a list shares, up to and with a
 * "/" ("/demo/k_abc/" of the demo shop's pages), which the list can leave
 * out; "" when there are fewer than two different paths (nothing to compare)
 * or they share only "/".
 */
export function sharedPrefix(paths: string[]): string {
  const distinct = [...new Set(paths.filter(Boolean))];
  if (distinct.length < 2) return "";
  // "/demo/k_abc" (the shop's home, without its slash) shares "/demo/k_abc/" too.
  for (let i = 0; i < distinct.length; i++) if (!/[/?#]/.test(distinct[i]!.slice(-1)) && !/[?#]/.test(distinct[i]!)) distinct[i] += "/";
  let p = distinct[0]!;
  for (const x of distinct) while (!x.startsWith(p)) p = p.slice(0, -1);
  // Only whole segments of the path, never into the query or hash.
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  const whole = p.slice(0, p.lastIndexOf("/") + 1);
  return whole.length > 1 ? whole : "";
}

/** countLine writes a list's count: "3 recordings", or with filters on "1 recording matches your filters". */
export function countLine(n: number, one: string, filtered: boolean): string {
  return `${plural(n, one)}${filtered ? (n === 1 ? " matches" : " match") + " your filters" : ""}`;
}

/** sentence shows a server message as a sentence ("the accounts database is down" → "The accounts database is down."). */
export function sentence(s: string): string {
  const t = s.trim();
  if (!t) return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}
