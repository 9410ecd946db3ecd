import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { type Schemas } from "../api/client";
import { $api } from "../api/query";
import { canManage, myRole, useApp, useOrganization, useSite } from "../app/AppContext";
import { CopyButton, ErrorBox, PageHeader, QueryStatus } from "../components/ui";
import { VerifyInstall } from "../components/VerifyInstall";
import { installSnippet, normalizeDomain, snippetBase } from "../lib/snippet";
import { useDomainCheck } from "../components/DomainCheck";
import { captureAssets, selectorLines, timeZones, updateMask } from "../lib/settings";
import { retentionCeiling, retentionNote } from "../lib/limits";

type Site = Schemas["v1Site"];
type Settings = Schemas["v1SiteSettings"];

const API_STUB = "<script>window.sightline=window.sightline||function(){(sightline.q=sightline.q||[]).push(arguments)};</script>";
const API_EXAMPLES = `sightline('identify', 'user-42', { tier: 'pro' });  // find this user's recordings by id or attribute
sightline('event', 'signup', { step: 2 });          // filter recordings by event, see it on the timeline
sightline('consent', true);                         // with "Wait for consent": start recording`;

function Install({ site }: { site: Site }) {
  const { config } = useApp();
  const { base, warning } = snippetBase(config?.publicIngestUrl, window.location.origin);
  const snippet = installSnippet(base, site.siteKey ?? "");
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
      {warning && (
        <p className="muted small" role="note" data-testid="public-url-warning">
          {warning === "unset"
            ? "This snippet points at the address you opened the dashboard with. For a real site, start Sightline with "
            : "This snippet sends over plain http, which https sites block. For a real site, set "}
          <code>server.public-url</code> to its public <code>https://</code> address (behind a TLS-terminating proxy).
        </p>
      )}
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
      <VerifyInstall siteId={site.id!} />
    </section>
  );
}

/** siteWritten puts a site the gateway returned into the cache, and has the site lists re-read (names, domains). */
function siteWritten(qc: QueryClient, site: Site | undefined) {
  if (site?.id) qc.setQueryData(siteKey(site.id), { site });
  void qc.invalidateQueries({ queryKey: ["get", "/api/v1/organizations/{organizationId}/sites"] });
}

function siteKey(siteId: string) {
  return $api.queryOptions("get", "/api/v1/sites/{siteId}", { params: { path: { siteId } } }).queryKey;
}

function Domains({ site, editable }: { site: Site; editable: boolean }) {
  const qc = useQueryClient();
  const [domain, setDomain] = useState("");
  const addDomain = $api.useMutation("post", "/api/v1/sites/{siteId}/domains", {
    onSuccess: (r) => {
      siteWritten(qc, r.site);
      setDomain("");
    },
  });
  const removeDomain = $api.useMutation("delete", "/api/v1/sites/{siteId}/domains/{domain}", { onSuccess: (r) => siteWritten(qc, r.site) });
  const error = addDomain.error ?? removeDomain.error;
  const domainCheck = useDomainCheck("domain-problem");
  const add = (e: FormEvent) => {
    e.preventDefault();
    const host = normalizeDomain(domain);
    if (domainCheck.check(host)) addDomain.mutate({ params: { path: { siteId: site.id! } }, body: { domain: host } });
  };
  const remove = (d: string) => {
    if (!window.confirm(`Stop accepting recordings from ${d}?`)) return;
    removeDomain.mutate({ params: { path: { siteId: site.id!, domain: d } } });
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
          <input
            className="grow"
            placeholder="shop.example.com or *.example.com"
            value={domain}
            onChange={(e) => {
              setDomain(e.target.value);
              domainCheck.clear();
            }}
            aria-label="Domain to add"
            {...domainCheck.inputProps}
            data-testid="domain-input"
          />
          <button className="btn" type="submit">
            Add domain
          </button>
        </form>
      )}
      {domainCheck.message}
      <ErrorBox error={error} />
    </section>
  );
}


function SettingsForm({ siteId, maxRetention, retentionHint, editable }: { siteId: string; maxRetention: number; retentionHint: string | null; editable: boolean }) {
  const qc = useQueryClient();
  const init = { params: { path: { siteId } } };
  // Not re-read on focus: the form compares the draft with what was loaded.
  const loaded = $api.useQuery("get", "/api/v1/sites/{siteId}/settings", init, { refetchOnWindowFocus: false });
  const [draft, setDraft] = useState<Settings>();
  const [text, setText] = useState({ mask: "", block: "", unmask: "" });
  const [saved, setSaved] = useState(false);
  const edit = (s: Settings) => {
    setDraft(s);
    setText({ mask: (s.maskSelectors ?? []).join("\n"), block: (s.blockSelectors ?? []).join("\n"), unmask: (s.unmaskSelectors ?? []).join("\n") });
  };
  const server = loaded.data?.settings;
  useEffect(() => {
    if (server) edit(server);
  }, [server]);
  const saveSettings = $api.useMutation("patch", "/api/v1/sites/{siteId}/settings", {
    onSuccess: (r) => {
      if (r.settings) qc.setQueryData($api.queryOptions("get", "/api/v1/sites/{siteId}/settings", init).queryKey, { settings: r.settings });
      setSaved(true);
    },
  });
  if (!loaded.data) return <QueryStatus query={loaded} />;
  if (!draft) return null;
  const orig = server ?? {};
  const next: Settings = { ...draft, maskSelectors: selectorLines(text.mask), blockSelectors: selectorLines(text.block), unmaskSelectors: selectorLines(text.unmask) };
  const mask = updateMask(orig, next);
  const changed = mask ? mask.split(",") : [];
  const set = <K extends keyof Settings>(k: K, v: Settings[K]) => {
    setDraft({ ...draft, [k]: v });
    setSaved(false);
  };
  const busy = saveSettings.isPending;
  const error = saveSettings.error;

  const save = (e: FormEvent) => {
    e.preventDefault();
    // Only what changed, so two admins editing different fields don't undo each other.
    saveSettings.mutate({ params: { path: { siteId } }, body: { settings: next, updateMask: mask } });
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
              max={maxRetention}
              value={draft.retentionDays ?? 0}
              onChange={(e) => set("retentionDays", Number(e.target.value))}
              className="input-short"
              name="retentionDays"
            />
            days {retentionHint ? <small className="muted" data-testid="retention-limit">({retentionHint})</small> : null}
          </span>
        </label>
        <label>
          Move recordings to object storage after
          <span className="row gap">
            <input
              type="number"
              min={0}
              max={draft.retentionDays ?? maxRetention}
              value={draft.coldAfterDays ?? 0}
              onChange={(e) => set("coldAfterDays", Number(e.target.value))}
              className="input-short"
              name="coldAfterDays"
            />
            days (0 = never)
          </span>
          <small className="muted">Older recordings leave the primary database for cheaper storage; they replay as before.</small>
        </label>
        <label id="time-zone">
          Time zone of traffic numbers
          <span className="row gap">
            <select value={draft.timeZone || "UTC"} onChange={(e) => set("timeZone", e.target.value === "UTC" ? "" : e.target.value)} name="timeZone" data-testid="time-zone">
              {timeZones(draft.timeZone).map((z) => (
                <option key={z} value={z}>
                  {z.replaceAll("_", " ")}
                </option>
              ))}
            </select>
            {Intl.DateTimeFormat().resolvedOptions().timeZone !== (draft.timeZone || "UTC") && (
              <button type="button" className="btn btn-small btn-ghost" onClick={() => set("timeZone", Intl.DateTimeFormat().resolvedOptions().timeZone)}>
                Use mine ({Intl.DateTimeFormat().resolvedOptions().timeZone})
              </button>
            )}
          </span>
          <small className="muted">Days and weeks in the overview and funnels start at midnight here.</small>
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

function Danger({ site, orgId }: { site: Site; orgId: string }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [name, setName] = useState(site.name ?? "");
  const key = siteKey(site.id!);
  const renameSite = $api.useMutation("patch", "/api/v1/sites/{siteId}", {
    // The new name shows at once (title, switcher) and goes back if refused.
    onMutate: async (v) => {
      await qc.cancelQueries({ queryKey: key });
      const previous = qc.getQueryData<{ site?: Site }>(key);
      qc.setQueryData(key, { site: { ...site, name: v.body.name } });
      return { previous };
    },
    onError: (_e, _v, ctx) => ctx?.previous && qc.setQueryData(key, ctx.previous),
    onSuccess: (r) => siteWritten(qc, r.site),
  });
  const deleteSite = $api.useMutation("delete", "/api/v1/sites/{siteId}", {
    onSuccess: () => {
      qc.removeQueries({ queryKey: key });
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/organizations/{organizationId}/sites"] });
      navigate(`/o/${orgId}/sites`);
    },
  });
  const error = renameSite.error ?? deleteSite.error;
  const rename = (e: FormEvent) => {
    e.preventDefault();
    renameSite.mutate({ params: { path: { siteId: site.id! } }, body: { name } });
  };
  const remove = () => {
    if (window.prompt(`This deletes the site and all its recordings. Type the site's name (${site.name}) to confirm.`) !== site.name) return;
    deleteSite.mutate({ params: { path: { siteId: site.id! } } });
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

const TABS = [
  { key: "install", label: "Install" },
  { key: "settings", label: "Domains & recording" },
  { key: "site", label: "Site", adminOnly: true },
] as const;
type TabKey = (typeof TABS)[number]["key"];

/**
 * SetupTabs: the page's sections as ARIA tabs whose selection is the URL's
 * ?tab= (shareable; the back button goes to the previous tab); the arrow
 * keys move between tabs.
 */
function SetupTabs({ tabs, current, select }: { tabs: { key: TabKey; label: string }[]; current: TabKey; select: (k: TabKey) => void }) {
  const onKeyDown = (e: React.KeyboardEvent, i: number) => {
    const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = tabs[(i + step + tabs.length) % tabs.length]!;
    select(next.key);
    document.getElementById(`setup-tab-${next.key}`)?.focus();
  };
  return (
    <div className="tabs" role="tablist" aria-label="Site setup">
      {tabs.map((t, i) => (
        <button
          key={t.key}
          id={`setup-tab-${t.key}`}
          type="button"
          role="tab"
          className={`tab ${t.key === current ? "tab-on" : ""}`}
          aria-selected={t.key === current}
          aria-controls={`setup-panel-${t.key}`}
          tabIndex={t.key === current ? 0 : -1}
          onClick={() => select(t.key)}
          onKeyDown={(e) => onKeyDown(e, i)}
          data-testid={`setup-tab-${t.key}`}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

export function SiteSetup() {
  const { orgId = "", siteId = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const { me } = useApp();
  const editable = canManage(myRole(me, orgId));
  const site = useSite(siteId);
  const org = useOrganization(orgId);
  const tabs = TABS.filter((t) => editable || !("adminOnly" in t));
  const tab = tabs.find((t) => t.key === params.get("tab"))?.key ?? "install";
  const select = (k: TabKey) =>
    setParams((p) => {
      const n = new URLSearchParams(p);
      if (k === "install") n.delete("tab");
      else n.set("tab", k);
      return n;
    });
  if (!site.data) return <QueryStatus query={site} />;
  const s = site.data.site;
  if (!s) return <ErrorBox error="Site not found" />;
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
      <SetupTabs tabs={tabs} current={tab} select={select} />
      <div role="tabpanel" id={`setup-panel-${tab}`} aria-labelledby={`setup-tab-${tab}`} data-testid="setup-panel">
        {tab === "install" && <Install site={s} />}
        {tab === "settings" && (
          <>
            <Domains site={s} editable={editable} />
            <SettingsForm
              siteId={siteId}
              maxRetention={retentionCeiling(org.data?.organization?.plan)}
              retentionHint={retentionNote(org.data?.organization?.plan, org.data?.organization?.customLimits)}
              editable={editable}
            />
          </>
        )}
        {tab === "site" && editable && <Danger site={s} orgId={orgId} />}
      </div>
    </div>
  );
}
