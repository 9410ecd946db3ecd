// Choosing the pages of a map: search the site's recorded page keys (most
// viewed first), pick one, and choose how the rule matches — the exact URL,
// what it starts with or contains, or a pattern that makes one map of many
// pages (https://shop.example.com/product/*).
import { useEffect, useId, useState } from "react";
import { $api } from "../api/query";
import { PathText } from "../components/PathText";
import type { UrlCondition } from "../lib/filters";
import { plural } from "../lib/format";
import { RuleOpSelect, useRuleDraft } from "./RuleControls";
import { readableUrl } from "./url";

const PAGE_SIZE = 20;

/** useDebounced answers value once it has not changed for ms. */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function PagePicker({ siteId, value, onChange }: { siteId: string; value?: UrlCondition; onChange: (v: UrlCondition | undefined) => void }) {
  const id = useId();
  const [search, setSearch] = useState("");
  const { text: rule, op, commit, inputProps } = useRuleDraft(value, onChange);
  const query = useDebounced(search.trim().slice(0, 200), 250);
  const pages = $api.useQuery("get", "/api/v1/sites/{siteId}/heatmap/pages", {
    params: { path: { siteId }, query: { query: query || undefined, pageSize: PAGE_SIZE } },
  });
  const list = pages.data?.pages ?? [];

  return (
    <section className="heat-picker" aria-labelledby={`${id}-h`} data-testid="heat-picker">
      <h2 id={`${id}-h`} className="filter-label">
        Page
      </h2>
      <div className="heat-rule">
        <RuleOpSelect label="Which pages make the map" value={op} onChange={(o) => commit(rule, o)} testId="heat-rule-op" />
        <input
          className="grow"
          aria-label="Page URL or pattern"
          aria-describedby={`${id}-help`}
          placeholder="https://shop.example.com/product/*"
          {...inputProps}
          data-testid="heat-rule-value"
        />
      </div>
      <p id={`${id}-help`} className="muted small heat-help">
        {op === "pattern" ? (
          <>
            In a pattern, <code>*</code> stands for any run of characters and the whole URL must match: <code>https://shop.example.com/product/*</code> makes one map of every product page;{" "}
            <code>/product/*</code>, starting with <code>/</code>, compares paths on every host of the site.
          </>
        ) : op === "equals" ? (
          <>One page: its URL without the query string (or a path such as <code>/pricing</code> on every host).</>
        ) : op === "prefix" ? (
          <>Every page whose URL starts with this, e.g. <code>https://shop.example.com/blog/</code>.</>
        ) : (
          <>Every page whose URL contains this, e.g. <code>/checkout</code>.</>
        )}{" "}
        Paths are matched case-sensitively (<code>/Cart</code> is not <code>/cart</code>), host names are not; URLs may be typed as read (<code>/café</code>) or encoded.
      </p>
      <label className="heat-search">
        <span className="sr-only">Search recorded pages</span>
        <input type="search" placeholder="Search recorded pages" title="Finds the pages a Contains rule of the same text maps: a path's case matters" value={search} onChange={(e) => setSearch(e.target.value)} data-testid="heat-page-search" />
      </label>
      {pages.error ? (
        <p className="muted small" role="alert">
          The recorded pages could not be read: {pages.error instanceof Error ? pages.error.message : "error"}
        </p>
      ) : (
        <ul className="heat-pages" aria-label="Recorded pages, most viewed first" aria-busy={pages.isFetching}>
          {list.map((p) => {
            // Shown and picked as people read it ("café"); the server matches it to the recorded "caf%C3%A9".
            const url = readableUrl(p.url ?? "");
            const on = value?.value === url || value?.value === p.url;
            return (
              <li key={p.url}>
                <button
                  type="button"
                  className={`heat-page ${on ? "heat-page-on" : ""}`}
                  aria-pressed={on && op === "equals"}
                  title={url}
                  onClick={() => commit(url, "equals")}
                  data-testid="heat-page"
                  data-url={p.url}
                >
                  {/* A long URL loses its middle, not the end that tells pages apart. */}
                  <PathText path={shortUrl(url)} title={null} />
                  <span className="facet-count">
                    {plural(Number(p.pageViews ?? 0), "view")} · {plural(Number(p.clicks ?? 0), "click")}
                  </span>
                </button>
              </li>
            );
          })}
          {pages.data && list.length === 0 && <li className="muted small">{query ? "No recorded page matches." : "No page has been recorded yet."}</li>}
        </ul>
      )}
    </section>
  );
}

/** shortUrl drops the scheme, keeping host and path. */
function shortUrl(u: string | undefined): string {
  return (u ?? "").replace(/^https?:\/\//, "");
}
