// Page rules as package pagerule (Go) matches them, small enough for the bootstrap, which runs it
// on every page: a value starting with "/" compares the URL's path (except for contains); equals
// compares scheme://host/path (query, fragment and a trailing slash ignored); "*" in a pattern
// matches any run. Comparisons are of bytes, case kept, as in Go.
export interface PageRule {
  op: string;
  value: string;
}

// key is the page key of a URL and its path, as pagerule.Key: the URL parser already lower-cases
// the host and drops a default port.
function key(u: string): [string, string] {
  const x = new URL(u);
  const p = x.pathname.replace(/(.)\/+$/, '$1');
  return [x.origin + p, p];
}

// glob matches s against a pattern whole, "*" any run, in linear steps per star (no backtracking
// blow-up on hostile patterns), as pagerule.Glob.
export function glob(pt: string, s: string): boolean {
  let p = 0,
    i = 0,
    star = -1,
    mark = 0;
  while (i < s.length) {
    if (pt[p] == '*') (star = p++), (mark = i);
    else if (p < pt.length && pt[p] == s[i]) p++, i++;
    else if (star >= 0) (p = star + 1), (i = ++mark);
    else return false;
  }
  while (pt[p] == '*') p++;
  return p == pt.length;
}

// matchRule tells whether href (an absolute URL) is picked by the rule; unknown operators and
// unparsable URLs pick nothing.
export function matchRule(r: PageRule, href: string): boolean {
  try {
    const v = r.value,
      op = r.op,
      [k, path] = key(href),
      pf = op != 'contains' && v[0] == '/',
      s = pf ? path : href;
    // An unparsable http(s) value can equal no page key (Go compares it as written: no match).
    if (op == 'equals') return pf ? s == v.replace(/(.)\/+$/, '$1') : k == (/^https?:/.test(v) ? key(v)[0] : v);
    return op == 'contains' ? s.includes(v) : op == 'prefix' ? s.startsWith(v) : op == 'pattern' && glob(v, s);
  } catch {
    return false;
  }
}

// matchPages: any rule picks the page; no rules means every page.
export function matchPages(rules: PageRule[] | undefined | null, href: string): boolean {
  return !rules || !rules.length || rules.some((r) => r && matchRule(r, href));
}
