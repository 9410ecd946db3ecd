import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { canManage, useApp } from "../app/AppContext";
import { useAsync } from "../app/useAsync";
import { CopyButton, ErrorBox, PageHeader, Spinner } from "../components/ui";
import { formatRelative } from "../lib/format";
import { installSnippet, normalizeDomain } from "../lib/snippet";
import { captureAssets, selectorLines, updateMask } from "../lib/settings";
import { rememberSite } from "./Home";

type Site = Schemas["v1Site"];
type Settings = Schemas["v1SiteSettings"];

const API_STUB = "<script>window.sightline=window.sightline||function(){(sightline.q=sightline.q||[]).push(arguments)};</script>";
const API_EXAMPLES = `sightline('identify', 'user-42', { plan: 'pro' });  // find this user's recordings by id or attribute
sightline('event', 'signup', { step: 2 });          // filter recordings by event, see it on the timeline
sightline('consent', true);                         // with "Wait for consent": start recording`;

const POLL_MS = 3000;
const POLL_FOR_MS = 10 * 60_000;
/** Data newer than this counts as "the snippet works". */
const FRESH_MS = 15 * 60_000;

function Install({ site }: { site: Site }) {
  const snippet = installSnippet(window.location.origin, site.siteKey ?? "");
  const [verifying, setVerifying] = useState(false);
  const [activity, setActivity] = useState<Schemas["v1GetSiteActivityResponse"]>();
  const [error, setError] = useState<Error>();
  const started = useRef(0);

  const check = async () => {
    try {
      const a = await unwrap(api.GET("/api/v1/sites/{siteId}/activity", { params: { path: { siteId: site.id! } } }));
      setActivity(a);
      setError(undefined);
      return a;
    } catch (e) {
      setError(e as Error);
      return undefined;
    }
  };
  useEffect(() => {
    void check();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [site.id]);
  useEffect(() => {
    if (!verifying) return;
    started.current = Date.now();
    const timer = window.setInterval(async () => {
      const a = await check();
      if ((a && isFresh(a)) || Date.now() - started.current > POLL_FOR_MS) setVerifying(false);
    }, POLL_MS);
    return () => window.clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [verifying]);

  const fresh = activity && isFresh(activity);
  return (
    <section className="card">
      <h2>1. Install the snippet</h2>
      <p className="muted">
        Paste this line into the <code>&lt;head&gt;</code> of every page of your site, or add it through your tag manager. It loads a tiny
        script; the recorder itself loads only for visitors who are sampled in.
      </p>
      <div className="snippet">
        <code data-testid="install-snippet">{snippet}</code>
        <CopyButton text={snippet} testId="copy-snippet" label="Copy snippet" />
      </div>
      <details className="muted small api-help">
        <summary>Identify users and send custom events (optional)</summary>
        <p>
          To call the API before the script has loaded, put this line before the snippet; calls are queued and run once recording starts.
        </p>
        <div className="snippet">
          <code>{API_STUB}</code>
          <CopyButton text={API_STUB} />
        </div>
        <pre className="code-block">{API_EXAMPLES}</pre>
      </details>
      <h2>2. Verify the installation</h2>
      <p className="muted">Open your site in another tab after installing, then check here.</p>
      <div className="verify" data-testid="verify-status" data-state={fresh ? "ok" : verifying ? "waiting" : "idle"}>
        {fresh ? (
          <div className="verify-ok">
            <span className="dot dot-ok" /> Receiving data — last batch {formatRelative(activity?.lastChunkTime)},{" "}
            {Number(activity?.sessionsLast24h ?? 0).toLocaleString()} sessions in the last 24 hours.
          </div>
        ) : verifying ? (
          <div className="verify-wait">
            <span className="dot dot-wait" /> Waiting for the first data from your site… (checking every few seconds)
          </div>
        ) : (
          <div>
            <span className="dot" />{" "}
            {activity?.lastChunkTime
              ? `Last data ${formatRelative(activity.lastChunkTime)}.`
              : "No data received yet."}
          </div>
        )}
        <button className="btn" onClick={() => setVerifying(true)} disabled={verifying} data-testid="verify-install">
          {verifying ? "Checking…" : "Verify installation"}
        </button>
      </div>
      <ErrorBox error={error} />
      {!fresh && (
        <details className="muted small">
          <summary>Nothing arriving?</summary>
          <ul>
            <li>The page's domain must be in the list of domains below (e.g. <code>www.</code> is a different host — use a wildcard).</li>
            <li>Visitors who send Do-Not-Track are not recorded when "Respect Do-Not-Track" is on — turn it off to test.</li>
            <li>Recording must be on and the sampling rate above 0%.</li>
            <li>Ad blockers or a Content-Security-Policy on your site may block the script.</li>
          </ul>
        </details>
      )}
    </section>
  );
}

function isFresh(a: Schemas["v1GetSiteActivityResponse"]): boolean {
  const t = a.lastChunkTime ? Date.parse(a.lastChunkTime) : NaN;
  return Number.isFinite(t) && Date.now() - t < FRESH_MS;
}

function Domains({ site, onChange, editable }: { site: Site; onChange: (s: Site) => void; editable: boolean }) {
  const [domain, setDomain] = useState("");
  const [error, setError] = useState<Error>();
  const add = async (e: FormEvent) => {
    e.preventDefault();
    const host = normalizeDomain(domain);
    if (!host) return;
    try {
      const r = await unwrap(api.POST("/api/v1/sites/{siteId}/domains", { params: { path: { siteId: site.id! } }, body: { domain: host } }));
      if (r.site) onChange(r.site);
      setDomain("");
      setError(undefined);
    } catch (err) {
      setError(err as Error);
    }
  };
  const remove = async (d: string) => {
    if (!window.confirm(`Stop accepting recordings from ${d}?`)) return;
    try {
      const r = await unwrap(api.DELETE("/api/v1/sites/{siteId}/domains/{domain}", { params: { path: { siteId: site.id!, domain: d } } }));
      if (r.site) onChange(r.site);
    } catch (err) {
      setError(err as Error);
    }
  };
  const domains = site.domains ?? [];
  return (
    <section className="card">
      <h2>Domains</h2>
      <p className="muted">Recordings are accepted only from pages on these hosts.</p>
      {domains.length === 0 && <p className="warn">No domains yet: every recording is refused until you add one.</p>}
      <ul className="chips" data-testid="domain-list">
        {domains.map((d) => (
          <li key={d} className="chip">
            {d}
            {editable && (
              <button className="chip-x" aria-label={`Remove ${d}`} onClick={() => remove(d)}>
                ×
              </button>
            )}
          </li>
        ))}
      </ul>
      {editable && (
        <form className="row gap" onSubmit={add}>
          <input placeholder="shop.example.com or *.example.com" value={domain} onChange={(e) => setDomain(e.target.value)} data-testid="domain-input" />
          <button className="btn" type="submit">
            Add domain
          </button>
        </form>
      )}
      <ErrorBox error={error} />
    </section>
  );
}


function SettingsForm({ siteId, maxRetention, editable }: { siteId: string; maxRetention?: number; editable: boolean }) {
  const loaded = useAsync(() => unwrap(api.GET("/api/v1/sites/{siteId}/settings", { params: { path: { siteId } } })), [siteId]);
  const [draft, setDraft] = useState<Settings>();
  const [text, setText] = useState({ mask: "", block: "", unmask: "" });
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const s = loaded.data?.settings;
    if (!s) return;
    setDraft(s);
    setText({ mask: (s.maskSelectors ?? []).join("\n"), block: (s.blockSelectors ?? []).join("\n"), unmask: (s.unmaskSelectors ?? []).join("\n") });
  }, [loaded.data]);
  if (loaded.loading) return <Spinner />;
  if (loaded.error) return <ErrorBox error={loaded.error} onRetry={loaded.reload} />;
  if (!draft) return null;
  const orig = loaded.data?.settings ?? {};
  const next: Settings = { ...draft, maskSelectors: selectorLines(text.mask), blockSelectors: selectorLines(text.block), unmaskSelectors: selectorLines(text.unmask) };
  const mask = updateMask(orig, next);
  const changed = mask ? mask.split(",") : [];
  const set = <K extends keyof Settings>(k: K, v: Settings[K]) => {
    setDraft({ ...draft, [k]: v });
    setSaved(false);
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await unwrap(
        api.PATCH("/api/v1/sites/{siteId}/settings", {
          params: { path: { siteId } },
          // Only what changed, so two admins editing different fields don't undo each other.
          body: { settings: next, updateMask: mask },
        }),
      );
      if (r.settings) loaded.setData({ settings: r.settings });
      setSaved(true);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const pct = Math.round((draft.sampleRate ?? 0) * 100);
  return (
    <form className="card form settings" onSubmit={save} data-testid="site-settings">
      <h2>Recording settings</h2>
      <fieldset disabled={!editable}>
        <label className="toggle">
          <input type="checkbox" checked={!!draft.recordingEnabled} onChange={(e) => set("recordingEnabled", e.target.checked)} name="recordingEnabled" />
          <span>
            <strong>Record sessions</strong>
            <small className="muted">Turn off to pause recording without removing the snippet.</small>
          </span>
        </label>
        <label>
          Sampling: record {pct}% of sessions
          <input type="range" min={0} max={100} step={1} value={pct} onChange={(e) => set("sampleRate", Number(e.target.value) / 100)} name="sampleRate" />
        </label>
        <label>
          Keep recordings for
          <span className="row gap">
            <input
              type="number"
              min={1}
              max={maxRetention || undefined}
              value={draft.retentionDays ?? 0}
              onChange={(e) => set("retentionDays", Number(e.target.value))}
              className="input-short"
              name="retentionDays"
            />
            days {maxRetention ? <small className="muted">(your plan allows up to {maxRetention})</small> : null}
          </span>
        </label>
        <div>
          <h3>Replay</h3>
        </div>
        <label className="toggle">
          <input type="checkbox" checked={captureAssets(draft)} onChange={(e) => set("captureAssets", e.target.checked)} name="captureAssets" />
          <span>
            <strong>Keep copies of the page's stylesheets, fonts and images</strong>
            <small className="muted">
              Sightline fetches them from your site when first seen, so replays still look right after you redeploy, and icon fonts
              your CDN serves only to your own domain still show.
            </small>
          </span>
        </label>
        <label className="toggle">
          <input type="checkbox" checked={!!draft.recordCanvas} onChange={(e) => set("recordCanvas", e.target.checked)} name="recordCanvas" />
          <span>
            <strong>Record canvases (charts)</strong>
            <small className="muted">
              Sampled images of every &lt;canvas&gt;, bounded per minute. Costs visitors some CPU and upload; off unless your pages draw what
              you need to see.
            </small>
          </span>
        </label>
        <div>
          <h3>Privacy</h3>
          <p className="muted small">What visitors type is always masked unless you opt a field in below.</p>
        </div>
        <label className="toggle">
          <input type="checkbox" checked={!!draft.maskAllText} onChange={(e) => set("maskAllText", e.target.checked)} name="maskAllText" />
          <span>
            <strong>Mask all text</strong>
            <small className="muted">Replace every text on the page with asterisks in recordings.</small>
          </span>
        </label>
        <label className="toggle">
          <input type="checkbox" checked={!!draft.respectDoNotTrack} onChange={(e) => set("respectDoNotTrack", e.target.checked)} name="respectDoNotTrack" />
          <span>
            <strong>Respect Do-Not-Track</strong>
            <small className="muted">Don't record visitors whose browser sends Do-Not-Track or Global Privacy Control.</small>
          </span>
        </label>
        <label className="toggle">
          <input type="checkbox" checked={!!draft.requireConsent} onChange={(e) => set("requireConsent", e.target.checked)} name="requireConsent" />
          <span>
            <strong>Wait for consent</strong>
            <small className="muted">
              Record only after your page calls <code>sightline('consent', true)</code>.
            </small>
          </span>
        </label>
        <div className="grid3">
          <label>
            Mask text of (CSS selectors, one a line)
            <textarea rows={3} value={text.mask} onChange={(e) => setText({ ...text, mask: e.target.value })} placeholder=".account-number" />
          </label>
          <label>
            Don't record at all
            <textarea rows={3} value={text.block} onChange={(e) => setText({ ...text, block: e.target.value })} placeholder="#payment-widget" />
          </label>
          <label>
            Record these inputs unmasked
            <textarea rows={3} value={text.unmask} onChange={(e) => setText({ ...text, unmask: e.target.value })} placeholder="input[name=search]" />
          </label>
        </div>
      </fieldset>
      <ErrorBox error={error} />
      {editable && (
        <div className="row gap">
          <button className="btn btn-primary" type="submit" disabled={busy || changed.length === 0} data-testid="save-settings">
            {busy ? "Saving…" : "Save settings"}
          </button>
          {saved && changed.length === 0 && <span className="ok">Saved. Visitors get the new settings within a minute.</span>}
        </div>
      )}
    </form>
  );
}

function Danger({ site, orgId, onRenamed }: { site: Site; orgId: string; onRenamed: (s: Site) => void }) {
  const navigate = useNavigate();
  const [name, setName] = useState(site.name ?? "");
  const [error, setError] = useState<Error>();
  const rename = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const r = await unwrap(api.PATCH("/api/v1/sites/{siteId}", { params: { path: { siteId: site.id! } }, body: { name } }));
      if (r.site) onRenamed(r.site);
    } catch (err) {
      setError(err as Error);
    }
  };
  const remove = async () => {
    if (window.prompt(`This deletes the site and all its recordings. Type the site's name (${site.name}) to confirm.`) !== site.name) return;
    try {
      await unwrap(api.DELETE("/api/v1/sites/{siteId}", { params: { path: { siteId: site.id! } } }));
      navigate(`/o/${orgId}/sites`);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <section className="card">
      <h2>Site</h2>
      <form className="row gap" onSubmit={rename}>
        <input value={name} onChange={(e) => setName(e.target.value)} aria-label="Site name" />
        <button className="btn" type="submit" disabled={!name.trim() || name === site.name}>
          Rename
        </button>
        <div className="spacer" />
        <button type="button" className="btn btn-danger" onClick={remove}>
          Delete site…
        </button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}

export function SiteSetup() {
  const { orgId = "", siteId = "" } = useParams();
  const [params] = useSearchParams();
  const { me } = useApp();
  const editable = canManage(me?.memberships?.find((m) => m.organizationId === orgId)?.role);
  const site = useAsync(() => unwrap(api.GET("/api/v1/sites/{siteId}", { params: { path: { siteId } } })), [siteId]);
  const org = useAsync(() => unwrap(api.GET("/api/v1/organizations/{organizationId}", { params: { path: { organizationId: orgId } } })), [orgId]);
  useEffect(() => rememberSite(orgId, siteId), [orgId, siteId]);
  if (site.loading) return <Spinner />;
  if (site.error || !site.data?.site) return <ErrorBox error={site.error ?? "Site not found"} onRetry={site.reload} />;
  const s = site.data.site;
  return (
    <div className="narrow">
      <PageHeader
        title={s.name}
        subtitle={params.get("new") ? "Your site is ready. Install the snippet and your first recording shows up within a minute." : "Install and settings"}
        actions={
          <Link className="btn" to={`/o/${orgId}/sites/${siteId}/recordings`}>
            View recordings →
          </Link>
        }
      />
      <Install site={s} />
      <Domains site={s} onChange={(n) => site.setData({ site: n })} editable={editable} />
      <SettingsForm siteId={siteId} maxRetention={org.data?.organization?.plan?.maxRetentionDays} editable={editable} />
      {editable && <Danger site={s} orgId={orgId} onRenamed={(n) => site.setData({ site: n })} />}
    </div>
  );
}
