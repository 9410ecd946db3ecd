// Trends → Funnels: the site's saved funnels, a builder (2–8 steps, each a
// page rule or a custom event; reorder, remove, label) whose results update
// while it is edited (funnels:compute), and the results — sessions per step,
// conversion overall and from the previous step, drop-off and the median
// time between steps — with each drop-off opening the recorded sessions that
// dropped off there (funnels:sessions), listed like the recordings list.
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";
import { $api } from "../api/query";
import { canManage, myRole, useApp } from "../app/AppContext";
import { EmptyState, ErrorBox, QueryStatus } from "../components/ui";
import { DEVICE_TYPES, type DeviceType } from "../lib/filters";
import { formatDuration, parseDuration, plural } from "../lib/format";
import { watchedSet } from "../lib/watched";
import { fromApiSteps, MAX_STEPS, MIN_STEPS, move, newStep, STEP_OPS, stepProblems, stepTitle, toApiSteps, type ApiStep, type StepDraft } from "../traffic/funnel";
import { formatRate, fromParams, int, rangeDates, rangeTimes, validTimeZone } from "../traffic/query";
import { RangePicker } from "../traffic/RangePicker";
import { useSitePage } from "./Home";
import { RecordingsTable } from "./RecordingsTable";
import "../traffic/traffic.css";

type Funnel = Schemas["v1Funnel"];
type StepResult = Schemas["v1FunnelStepResult"];

const minuteNow = () => new Date(Math.floor(Date.now() / 60_000) * 60_000);
const FUNNEL_DEVICES = DEVICE_TYPES.filter((d) => d.key !== "bot");

/** useDebounced answers value once it has stopped changing for ms. */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = window.setTimeout(() => setV(value), ms);
    return () => window.clearTimeout(t);
  }, [value, ms]);
  return v;
}

function StepEditor({ steps, setSteps, disabled }: { steps: StepDraft[]; setSteps: (s: StepDraft[]) => void; disabled: boolean }) {
  const patch = (i: number, p: Partial<StepDraft>) => setSteps(steps.map((s, k) => (k === i ? { ...s, ...p } : s)));
  return (
    <ol className="fn-steps" data-testid="fn-steps">
      {steps.map((s, i) => (
        <li key={s.id} className="fn-step" data-testid="fn-step">
          <span className="fn-step-n" aria-hidden>
            {i + 1}
          </span>
          <div className="fn-step-body">
            <div className="row gap-small wrap">
              <select aria-label={`Step ${i + 1}: kind`} value={s.kind === "event" ? "event" : s.op} disabled={disabled} onChange={(e) => (e.target.value === "event" ? patch(i, { kind: "event" }) : patch(i, { kind: "page", op: e.target.value as StepDraft["op"] }))} data-testid="fn-step-kind">
                {STEP_OPS.map((o) => (
                  <option key={o.op} value={o.op}>
                    {o.label}
                  </option>
                ))}
                <option value="event">Custom event</option>
              </select>
              <input
                className="fn-step-value"
                aria-label={`Step ${i + 1}: ${s.kind === "event" ? "event name" : "page"}`}
                placeholder={s.kind === "event" ? "signup" : STEP_OPS.find((o) => o.op === s.op)?.hint}
                value={s.value}
                maxLength={s.kind === "event" ? 100 : 2048}
                disabled={disabled}
                onChange={(e) => patch(i, { value: e.target.value })}
                data-testid="fn-step-value"
              />
            </div>
            <input className="fn-step-label" aria-label={`Step ${i + 1}: label (optional)`} placeholder="Label (optional)" value={s.label} maxLength={100} disabled={disabled} onChange={(e) => patch(i, { label: e.target.value })} data-testid="fn-step-label" />
          </div>
          <div className="fn-step-tools">
            <button type="button" className="btn btn-small btn-ghost" aria-label={`Move step ${i + 1} up`} disabled={disabled || i === 0} onClick={() => setSteps(move(steps, i, -1))}>
              ↑
            </button>
            <button type="button" className="btn btn-small btn-ghost" aria-label={`Move step ${i + 1} down`} disabled={disabled || i === steps.length - 1} onClick={() => setSteps(move(steps, i, 1))}>
              ↓
            </button>
            <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove step ${i + 1}`} disabled={disabled || steps.length <= MIN_STEPS} onClick={() => setSteps(steps.filter((_, k) => k !== i))}>
              ✕
            </button>
          </div>
        </li>
      ))}
      {steps.length < MAX_STEPS && !disabled && (
        <li>
          <button type="button" className="btn btn-small" onClick={() => setSteps([...steps, newStep()])} data-testid="fn-add-step">
            + Add step
          </button>
        </li>
      )}
    </ol>
  );
}

function Results({ steps, results, onOpen, open }: { steps: ApiStep[]; results: StepResult[]; onOpen: (i: number, dropped: boolean) => void; open?: { step: number; dropped: boolean } }) {
  const first = int(results[0]?.sessions);
  const last = int(results[results.length - 1]?.sessions);
  return (
    <section className="card" aria-labelledby="fn-results-h" data-testid="fn-results">
      <div className="tr-card-head">
        <h2 id="fn-results-h" className="tr-h2">
          Results
        </h2>
        <span data-testid="fn-overall">
          <strong>{formatRate(first ? last / first : 0)}</strong> <span className="muted">overall conversion · {first.toLocaleString()} entered, {last.toLocaleString()} completed</span>
        </span>
      </div>
      <ol className="fn-bars">
        {results.map((r, i) => {
          const n = int(r.sessions);
          const dropped = int(r.dropped);
          const rec = int(r.droppedRecorded);
          const median = r.medianTimeFromPrevious ? formatDuration(parseDuration(r.medianTimeFromPrevious)) : undefined;
          const isOpen = open?.step === i;
          return (
            <li key={i} className="fn-bar-row" data-testid="fn-result" data-sessions={n}>
              <div className="fn-bar-head">
                <strong>
                  {i + 1}. {stepTitle(steps[i] ?? {})}
                </strong>
                <span>
                  <span data-testid="fn-sessions">{n.toLocaleString()}</span> {n === 1 ? "session" : "sessions"} · <span data-testid="fn-conversion">{formatRate(r.conversion ?? (i === 0 && n ? 1 : 0))}</span>
                  {i > 0 && <span className="muted"> · {formatRate(r.stepConversion ?? 0)} from previous</span>}
                  {median && <span className="muted"> · median {median} after step {i}</span>}
                </span>
              </div>
              <div className="fn-bar-track" aria-hidden>
                <div className="fn-bar" style={{ width: `${first ? (n / first) * 100 : 0}%` }} />
              </div>
              <div className="row gap-small fn-bar-actions">
                <button type="button" className={`btn btn-small btn-ghost ${isOpen && !open?.dropped ? "btn-on" : ""}`} onClick={() => onOpen(i, false)} disabled={!n} data-testid="fn-reached">
                  Sessions that reached it
                </button>
                {i > 0 && (
                  <button
                    type="button"
                    className={`btn btn-small ${dropped ? "btn-danger" : "btn-ghost"} ${isOpen && open?.dropped ? "btn-on" : ""}`}
                    onClick={() => onOpen(i, true)}
                    disabled={!dropped}
                    title={`${plural(dropped, "session")} reached step ${i} but not step ${i + 1}; ${rec.toLocaleString()} of them ${rec === 1 ? "was" : "were"} recorded`}
                    data-testid="fn-dropoff"
                  >
                    ↘ {dropped.toLocaleString()} dropped off <span className="muted">({rec.toLocaleString()} recorded)</span>
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function StepSessions({ siteId, body, base, title }: { siteId: string; body: Schemas["TrafficServiceListFunnelSessionsBody"]; base: string; title: string }) {
  const key = JSON.stringify(body);
  const list = useInfiniteQuery({
    queryKey: ["post", "/api/v1/sites/{siteId}/funnels:sessions", { siteId, key }],
    queryFn: ({ pageParam, signal }) => unwrap(api.POST("/api/v1/sites/{siteId}/funnels:sessions", { params: { path: { siteId } }, body: { ...body, pageSize: 50, pageToken: pageParam || undefined }, signal })),
    initialPageParam: "",
    getNextPageParam: (last) => (last.sessions?.length ? last.nextPageToken || undefined : undefined),
    refetchOnWindowFocus: false,
  });
  const items = useMemo(() => (list.data?.pages ?? []).flatMap((p) => p.sessions ?? []), [list.data]);
  const first = list.data?.pages[0];
  const watched = useMemo(() => watchedSet(siteId), [siteId]);
  const link = useCallback((id: string) => `${base}/recordings/${encodeURIComponent(id)}`, [base]);
  return (
    <section className="card" aria-labelledby="fn-sessions-h" data-testid="fn-sessions-list">
      <h2 id="fn-sessions-h" className="tr-h2">
        {title}
      </h2>
      {!first ? (
        <QueryStatus query={list} />
      ) : (
        <>
          <p className="muted small" data-testid="fn-sessions-count">
            {plural(int(first.total), "session")}, {int(first.recorded).toLocaleString()} recorded — the recorded ones are listed, newest first.
          </p>
          {items.length === 0 ? (
            <EmptyState title="None of these sessions was recorded" icon="▶">
              Recording may be off, sampled, or over the daily session limit for them; traffic counts every visit.
            </EmptyState>
          ) : (
            <RecordingsTable items={items} total={int(first.recorded)} link={link} watched={watched} hasMore={!!list.hasNextPage} loadingMore={list.isFetchingNextPage} loadMore={() => void list.fetchNextPage()} />
          )}
          <ErrorBox error={list.error} />
        </>
      )}
    </section>
  );
}

function FunnelList({ funnels, current, base, canEdit }: { funnels: Funnel[]; current: string; base: string; canEdit: boolean }) {
  return (
    <nav className="fn-list card" aria-label="Saved funnels" data-testid="fn-list">
      <h2 className="filter-label">Saved funnels</h2>
      {funnels.length === 0 && <p className="muted small">None yet.</p>}
      <ul>
        {funnels.map((f) => (
          <li key={f.id}>
            <Link to={`${base}/funnels?f=${f.id}`} aria-current={current === f.id ? "page" : undefined} data-testid="fn-list-item">
              {f.name} <span className="muted small">{f.steps?.length ?? 0} steps</span>
            </Link>
          </li>
        ))}
      </ul>
      {canEdit && (
        <Link className="btn btn-small btn-block" to={`${base}/funnels?f=new`} data-testid="fn-new">
          + New funnel
        </Link>
      )}
    </nav>
  );
}

export default function Funnels() {
  const { orgId, siteId, site } = useSitePage();
  const [params, setParams] = useSearchParams();
  const { me } = useApp();
  const canEdit = canManage(myRole(me, orgId));
  const tz = validTimeZone(site.data?.site?.settings?.timeZone);
  const base = `/o/${orgId}/sites/${siteId}`;
  const qc = useQueryClient();
  const list = $api.useQuery("get", "/api/v1/sites/{siteId}/funnels", { params: { path: { siteId } } });
  const funnels = list.data?.funnels ?? [];
  const fParam = params.get("f") ?? "";
  const current = fParam || (funnels[0]?.id ?? "new");
  const saved = funnels.find((f) => f.id === current);
  // The traffic pages' range parameters (range, from, to); 30 days by default here.
  const rq = useMemo(() => {
    const r = fromParams(params);
    return params.get("range") ? { range: r.range, from: r.from, to: r.to } : { range: "30d" as const };
  }, [params]);
  const device = DEVICE_TYPES.find((d) => d.key === params.get("device"))?.value;
  const setParam = (patch: Record<string, string | undefined>) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(patch)) (v ? p.set(k, v) : p.delete(k));
    setParams(p);
  };
  const openStep = params.get("step");
  const open = openStep !== null && /^\d$/.test(openStep) ? { step: Number(openStep), dropped: params.get("dropped") === "1" } : undefined;

  // The builder's state: a saved funnel's steps, or a new one's.
  const [name, setName] = useState("");
  const [steps, setSteps] = useState<StepDraft[]>(() => [newStep(), newStep()]);
  useEffect(() => {
    if (current === "new") {
      setName("");
      setSteps([newStep(), newStep()]);
    } else if (saved) {
      setName(saved.name ?? "");
      setSteps(fromApiSteps(saved.steps));
    }
  }, [current, saved?.updateTime]);
  const problems = stepProblems(steps);
  const apiSteps = useDebounced(useMemo(() => toApiSteps(steps), [steps]), 400);
  const valid = stepProblems(fromApiSteps(apiSteps)).length === 0 && problems.length === 0;
  const now = useMemo(minuteNow, [rq, device]);
  const times = useMemo(() => rangeTimes(rq, now, tz), [rq, now, tz]);
  const dates = rangeDates(rq, now, tz);
  const deviceTypes: DeviceType[] | undefined = device ? [device] : undefined;
  const compute = $api.useQuery(
    "post",
    "/api/v1/sites/{siteId}/funnels:compute",
    { params: { path: { siteId } }, body: { steps: apiSteps, range: times, deviceTypes } },
    { enabled: valid && !!site.data, placeholderData: (prev) => prev },
  );
  const invalidate = () => void qc.invalidateQueries({ queryKey: ["get", "/api/v1/sites/{siteId}/funnels"] });
  const create = $api.useMutation("post", "/api/v1/sites/{siteId}/funnels", { onSuccess: (r) => { invalidate(); setParam({ f: r.funnel?.id }); } });
  const update = $api.useMutation("put", "/api/v1/sites/{siteId}/funnels/{funnelId}", { onSuccess: invalidate });
  const remove = $api.useMutation("delete", "/api/v1/sites/{siteId}/funnels/{funnelId}", { onSuccess: () => { invalidate(); setParam({ f: undefined, step: undefined, dropped: undefined }); } });
  const save = () => {
    const funnel = { name: name.trim() || "Untitled funnel", steps: toApiSteps(steps) };
    if (current === "new" || !saved) create.mutate({ params: { path: { siteId } }, body: { funnel } });
    else update.mutate({ params: { path: { siteId, funnelId: current } }, body: { funnel } });
  };
  const dirty = current === "new" || !saved || name !== (saved.name ?? "") || JSON.stringify(toApiSteps(steps)) !== JSON.stringify(toApiSteps(fromApiSteps(saved.steps)));
  const results = compute.data?.steps ?? [];
  const sessionsBody = open && valid ? { steps: apiSteps, range: times, deviceTypes, step: open.step, dropped: open.dropped } : undefined;
  if (!list.data) return <QueryStatus query={list} />;
  return (
    <div className="tr-page" data-testid="funnels-page">
      <div className="page-header">
        <div>
          <h1>
            Funnels <span className="muted site-title">{site.data?.site?.name}</span>
          </h1>
          <p className="muted small">
            {dates.from === dates.to ? dates.from : `${dates.from} – ${dates.to}`} · days in {tz} · a session counts when it reaches the steps in order
          </p>
        </div>
        <div className="page-actions row gap-small">
          <RangePicker q={rq} set={(p) => setParam({ range: p.range ?? rq.range, from: p.range && p.range !== "custom" ? undefined : p.from ?? rq.from, to: p.range && p.range !== "custom" ? undefined : p.to ?? rq.to })} tz={tz} testId="fn" />
          <select aria-label="Device" value={DEVICE_TYPES.find((d) => d.value === device)?.key ?? ""} onChange={(e) => setParam({ device: e.target.value || undefined })} data-testid="fn-device">
            <option value="">All devices</option>
            {FUNNEL_DEVICES.map((d) => (
              <option key={d.key} value={d.key}>
                {d.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <div className="fn-layout">
        <FunnelList funnels={funnels} current={current} base={base} canEdit={canEdit} />
        <div>
          <section className="card" aria-labelledby="fn-builder-h" data-testid="fn-builder">
            <div className="tr-card-head">
              <h2 id="fn-builder-h" className="tr-h2">
                {current === "new" ? "New funnel" : "Steps"}
              </h2>
              <div className="row gap-small">
                {canEdit && (
                  <>
                    <input aria-label="Funnel name" placeholder="Funnel name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} data-testid="fn-name" />
                    <button type="button" className="btn btn-primary btn-small" onClick={save} disabled={!!problems.length || !dirty || create.isPending || update.isPending} data-testid="fn-save">
                      {current === "new" ? "Save funnel" : dirty ? "Save changes" : "Saved"}
                    </button>
                    {saved && (
                      <button type="button" className="btn btn-danger btn-small" onClick={() => window.confirm(`Delete the funnel “${saved.name}”?`) && remove.mutate({ params: { path: { siteId, funnelId: current } } })} data-testid="fn-delete">
                        Delete
                      </button>
                    )}
                  </>
                )}
              </div>
            </div>
            {!canEdit && <p className="muted small">Admins edit funnels; you can change the range and device.</p>}
            <StepEditor steps={steps} setSteps={setSteps} disabled={!canEdit && current !== "new"} />
            {problems.length > 0 && (
              <ul className="muted small fn-problems" data-testid="fn-problems">
                {problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            )}
            <ErrorBox error={create.error ?? update.error ?? remove.error} />
          </section>
          {!valid ? null : compute.data ? (
            <div className={compute.isFetching ? "fn-stale" : undefined}>
              <Results steps={apiSteps} results={results} open={open} onOpen={(i, dropped) => setParam({ step: String(i), dropped: dropped ? "1" : undefined })} />
            </div>
          ) : (
            <QueryStatus query={compute} label="Computing…" />
          )}
          {sessionsBody && open && (
            <StepSessions
              key={JSON.stringify(sessionsBody)}
              siteId={siteId}
              body={sessionsBody}
              base={base}
              title={open.dropped ? `Dropped off after step ${open.step}: reached “${stepTitle(apiSteps[open.step - 1] ?? {})}”, not “${stepTitle(apiSteps[open.step] ?? {})}”` : `Reached step ${open.step + 1}: “${stepTitle(apiSteps[open.step] ?? {})}”`}
            />
          )}
        </div>
      </div>
    </div>
  );
}
