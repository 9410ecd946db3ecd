// Page URLs as people read them and as page keys spell them. Browsers
// record URLs percent-encoded ("/caf%C3%A9"); the dashboard shows them
// decoded ("/café"), and the server matches a rule typed either way
// (pagerule.Normal). keySpelling is that same spelling, for the places the
// server does not normalise (the recordings search's page filter).

const HEX = /^[0-9a-fA-F]{2}$/;
/** What a browser percent-encodes in a path, besides non-ASCII (pagerule.Normal's set). */
const ENCODED = new Set([..." \"<>`{}"]);

/**
 * keySpelling spells a URL or rule as page keys are spelled (pagerule.Normal): the scheme and
 * host of a URL lower-cased, and after them what a browser encodes, encoded; escapes already
 * there stay as written.
 */
export function keySpelling(v: string): string {
  const head = /^https?:\/\/[^/?#]*/i.exec(v)?.[0] ?? "";
  const bytes = new TextEncoder().encode(v.slice(head.length));
  let out = head.toLowerCase();
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const ch = String.fromCharCode(c);
    if (ch === "%" && HEX.test(String.fromCharCode(bytes[i + 1] ?? 0, bytes[i + 2] ?? 0))) {
      out += String.fromCharCode(c, bytes[i + 1]!, bytes[i + 2]!);
      i += 2;
    } else if (ch === "%" || c < 0x21 || c >= 0x7f || ENCODED.has(ch)) out += "%" + c.toString(16).toUpperCase().padStart(2, "0");
    else out += ch;
  }
  return out;
}

/** readableUrl decodes a page key for people, unless decoding would name another page (an encoded "/" or "%"): then the key as it is. */
export function readableUrl(key: string): string {
  let d: string;
  try {
    d = decodeURIComponent(key);
  } catch {
    return key;
  }
  return keySpelling(d) === key ? d : key;
}
