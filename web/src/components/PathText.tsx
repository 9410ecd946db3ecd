import { splitPath } from "../lib/format";

/**
 * PathText shows a page path on one line. A start that every path of its
 * list shares (shared, from sharedPrefix: the demo shop's "/demo/k_<key>/")
 * is left out as "…/"; a path still too long loses its middle rather than
 * its end ("/blog/2026/…/my-post"): the end is what tells a site's pages
 * apart. The full address is the tooltip.
 */
export function PathText({ path, shared = "", title, className = "" }: { path: string; shared?: string; title?: string | null; className?: string }) {
  // The shared start's own page ("/demo/k_abc" of "/demo/k_abc/") is "…/".
  const cut = !!shared && (path.startsWith(shared) || `${path}/` === shared);
  const { head, tail } = splitPath(cut ? path.slice(shared.length - 1) || "/" : path);
  return (
    // title={null}: the element around it already names the whole address.
    <span className={`path-text ${className}`} title={title === null ? undefined : (title ?? path)} data-testid="path-text">
      {cut && <span className="path-lead">…</span>}
      {head && <span className="path-head">{head}</span>}
      <span className="path-tail">{tail}</span>
    </span>
  );
}
