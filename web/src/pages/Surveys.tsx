// Surveys: the site's surveys with their responses (answers:stats per
// survey), started, paused, resumed and deleted from the list; and the
// builder (SurveyEdit) for a new or existing survey, with the tracker's real
// survey as a live preview and the server's validation shown at the field.
import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { ApiError, type Schemas } from "../api/client";
import { $api } from "../api/query";
import { canManage, myRole, useApp } from "../app/AppContext";
import { EmptyState, ErrorBox, PageHeader, QueryStatus } from "../components/ui";
import { formatDateTime, plural } from "../lib/format";
import { bootSurvey, errorAt, fieldOfError, QUESTION_TYPES } from "../feedback/convert";
import { Preview } from "../feedback/Preview";
import { RuleList } from "../feedback/RuleList";
import { emptySurvey, fromLocalInput, isChoice, isScore, localInput, newChoice, newQuestion, scoreRange, STATUS_LABELS, toSaveBody, withType, type Question, type Survey } from "../feedback/survey";
import { LanguageSelect } from "./FeedbackWidget";
import { useSitePage } from "./Home";
import "../feedback/feedback.css";

const LIST_KEY = ["get", "/api/v1/sites/{siteId}/surveys"] as const;

function StatusBadge({ s }: { s: Survey }) {
  const st = s.status ?? "SURVEY_STATUS_DRAFT";
  const cls = st === "SURVEY_STATUS_ACTIVE" ? "fb-status-active" : st === "SURVEY_STATUS_PAUSED" ? "fb-status-paused" : "fb-status-draft";
  return <span className={`fb-status ${cls}`}>{STATUS_LABELS[st]}</span>;
}

function dateSpan(s: Survey): string {
  const from = s.startTime ? formatDateTime(s.startTime) : "";
  const to = s.endTime ? formatDateTime(s.endTime) : "";
  if (!from && !to) return "No dates";
  return `${from || "now"} → ${to || "open end"}`;
}

export default function Surveys() {
  const { orgId, siteId, site } = useSitePage();
  const { me } = useApp();
  const editable = canManage(myRole(me, orgId));
  const qc = useQueryClient();
  const list = $api.useQuery("get", "/api/v1/sites/{siteId}/surveys", { params: { path: { siteId } } });
  // Responses per survey over all time: one stats call for the whole list.
  const stats = $api.useQuery("post", "/api/v1/sites/{siteId}/answers:stats", {
    params: { path: { siteId } },
    body: { filter: { kind: "ANSWER_KIND_SURVEY" }, interval: "STATS_INTERVAL_MONTH" },
  });
  const counts = useMemo(() => new Map((stats.data?.surveys ?? []).map((c) => [c.surveyId ?? "", Number(c.answers ?? 0)])), [stats.data]);
  const invalidate = () => void qc.invalidateQueries({ queryKey: LIST_KEY });
  const update = $api.useMutation("put", "/api/v1/sites/{siteId}/surveys/{surveyId}", { onSuccess: invalidate });
  const remove = $api.useMutation("delete", "/api/v1/sites/{siteId}/surveys/{surveyId}", { onSuccess: invalidate });
  const setStatus = (s: Survey, status: Schemas["v1SurveyStatus"]) =>
    update.mutate({ params: { path: { siteId, surveyId: s.id! } }, body: { survey: { ...s, status } } });
  const del = (s: Survey) => {
    if (!window.confirm(`Delete the survey "${s.name}"? Its responses stay in the responses list.`)) return;
    remove.mutate({ params: { path: { siteId, surveyId: s.id! } } });
  };
  const surveys = list.data?.surveys ?? [];
  const base = `/o/${orgId}/sites/${siteId}`;
  return (
    <div data-testid="surveys-page">
      <PageHeader
        title={
          <>
            Surveys <span className="muted site-title">{site.data?.site?.name}</span>
          </>
        }
        subtitle="Short surveys shown to the visitors and pages you target."
        actions={
          editable && (
            <Link className="btn btn-primary" to={`${base}/surveys/new`} data-testid="new-survey">
              New survey
            </Link>
          )
        }
      />
      <ErrorBox error={update.error ?? remove.error} />
      {!list.data ? (
        <QueryStatus query={list} />
      ) : surveys.length === 0 ? (
        <EmptyState title="No surveys yet" testId="surveys-empty" action={editable && <Link className="btn btn-primary" to={`${base}/surveys/new`}>Build one</Link>}>
          Ask visitors one to twenty questions — ratings, NPS, choices or text — on the pages and at the moment you choose.
        </EmptyState>
      ) : (
        <div className="card fb-scroll">
          <table className="fb-table" data-testid="surveys-table">
            <caption className="sr-only">Surveys of the site</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Responses
                </th>
                <th scope="col">Dates</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {surveys.map((s) => {
                const n = counts.get(s.id ?? "");
                const st = s.status ?? "SURVEY_STATUS_DRAFT";
                return (
                  <tr key={s.id} data-testid="survey-row" data-survey-id={s.id}>
                    <td>
                      <Link to={`${base}/surveys/${s.id}`}>{s.name || "(no name)"}</Link>
                      <div className="muted small">{plural(s.questions?.length ?? 0, "question")}</div>
                    </td>
                    <td>
                      <StatusBadge s={s} />
                    </td>
                    <td className="num" data-testid="survey-responses">
                      {n === undefined ? (stats.data ? "0" : "…") : <Link to={`${base}/feedback?kind=survey&survey=${s.id}&range=all`}>{n.toLocaleString()}</Link>}
                      {s.responseLimit && s.responseLimit !== "0" ? <div className="muted small">of {Number(s.responseLimit).toLocaleString()}</div> : null}
                    </td>
                    <td className="small">{dateSpan(s)}</td>
                    <td>
                      {editable && (
                        <span className="row gap-small">
                          {st === "SURVEY_STATUS_ACTIVE" ? (
                            <button className="btn btn-small" onClick={() => setStatus(s, "SURVEY_STATUS_PAUSED")} aria-label={`Pause ${s.name}`} data-testid="survey-pause">
                              Pause
                            </button>
                          ) : (
                            <button className="btn btn-small" onClick={() => setStatus(s, "SURVEY_STATUS_ACTIVE")} aria-label={`${st === "SURVEY_STATUS_PAUSED" ? "Resume" : "Start"} ${s.name}`} data-testid="survey-start">
                              {st === "SURVEY_STATUS_PAUSED" ? "Resume" : "Start"}
                            </button>
                          )}
                          <button className="btn btn-small btn-ghost" onClick={() => del(s)} aria-label={`Delete ${s.name}`} data-testid="survey-delete">
                            Delete
                          </button>
                        </span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

const DEVICE_CHOICES: { value: Schemas["v1DeviceType"]; label: string }[] = [
  { value: "DEVICE_TYPE_DESKTOP", label: "Desktop" },
  { value: "DEVICE_TYPE_TABLET", label: "Tablet" },
  { value: "DEVICE_TYPE_MOBILE", label: "Mobile" },
];

const TRIGGERS: { value: Schemas["SurveyTriggerKind"]; label: string }[] = [
  { value: "KIND_ON_LOAD", label: "When the page loads" },
  { value: "KIND_AFTER_SECONDS", label: "After some seconds on the page" },
  { value: "KIND_SCROLL_PERCENT", label: "At a scroll depth" },
  { value: "KIND_EXIT_INTENT", label: "When the visitor is about to leave" },
  { value: "KIND_CUSTOM_EVENT", label: "On a custom event" },
];

/** FieldError shows the server's message at the field it names. */
function FieldError({ path, at }: { path: string | undefined; at: { field: string; message: string } | undefined }) {
  if (!at || !path || !errorAt(at.field, path)) return null;
  return (
    <p className="field-error" role="alert" data-testid="field-error" data-field={at.field}>
      {at.message}
    </p>
  );
}

function QuestionEditor({
  q,
  index,
  all,
  set,
  move,
  remove,
  err,
}: {
  q: Question;
  index: number;
  all: Question[];
  set: (q: Question) => void;
  move: (d: -1 | 1) => void;
  remove: () => void;
  err: { field: string; message: string } | undefined;
}) {
  const path = `questions[${index}]`;
  const later = all.slice(index + 1);
  const [lo, hi] = scoreRange(q.type);
  const rules = q.skip ?? [];
  const setRule = (i: number, r: Schemas["v1SkipRule"]) => set({ ...q, skip: rules.map((x, j) => (j === i ? r : x)) });
  const n = index + 1;
  return (
    <fieldset className="fb-question" data-testid="question">
      <legend>Question {n}</legend>
      <div className="fb-question-head">
        <label>
          <span className="sr-only">Question {n} type</span>
          <select value={q.type} onChange={(e) => set(withType(q, e.target.value as Question["type"] & string))} data-testid="question-type">
            {QUESTION_TYPES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={!!q.required} onChange={(e) => set({ ...q, required: e.target.checked })} data-testid="question-required" />
          Required
        </label>
        <span className="spacer" />
        <button type="button" className="btn btn-small btn-ghost" onClick={() => move(-1)} disabled={index === 0} aria-label={`Move question ${n} up`}>
          ↑
        </button>
        <button type="button" className="btn btn-small btn-ghost" onClick={() => move(1)} disabled={later.length === 0} aria-label={`Move question ${n} down`}>
          ↓
        </button>
        <button type="button" className="btn btn-small btn-ghost" onClick={remove} disabled={all.length === 1} aria-label={`Remove question ${n}`}>
          Remove
        </button>
      </div>
      <label>
        Question {n} text
        <input value={q.text ?? ""} maxLength={300} onChange={(e) => set({ ...q, text: e.target.value })} placeholder="What almost stopped you from buying today?" data-testid="question-text" />
      </label>
      {isScore(q.type) && (
        <div className="fb-grid2">
          <label>
            Label of {lo}
            <input value={q.lowLabel ?? ""} maxLength={100} onChange={(e) => set({ ...q, lowLabel: e.target.value })} placeholder="Not likely" data-testid="question-low" />
          </label>
          <label>
            Label of {hi}
            <input value={q.highLabel ?? ""} maxLength={100} onChange={(e) => set({ ...q, highLabel: e.target.value })} placeholder="Very likely" data-testid="question-high" />
          </label>
        </div>
      )}
      {isChoice(q.type) && (
        <div className="fb-choices" role="group" aria-label={`Choices of question ${n}`}>
          {(q.choices ?? []).map((c, ci) => (
            <div className="fb-choice" key={c.id ?? ci}>
              <input
                aria-label={`Question ${n}, choice ${ci + 1}`}
                value={c.label ?? ""}
                maxLength={200}
                onChange={(e) => set({ ...q, choices: (q.choices ?? []).map((x, j) => (j === ci ? { ...x, label: e.target.value } : x)) })}
                data-testid="choice-label"
              />
              <button
                type="button"
                className="btn btn-small btn-ghost"
                aria-label={`Remove choice ${ci + 1} of question ${n}`}
                disabled={(q.choices?.length ?? 0) <= 2}
                onClick={() =>
                  set({
                    ...q,
                    choices: (q.choices ?? []).filter((_, j) => j !== ci),
                    skip: rules.map((r) => ({ ...r, choiceIds: (r.choiceIds ?? []).filter((id) => id !== c.id) })).filter((r) => r.choiceIds.length > 0),
                  })
                }
              >
                ×
              </button>
            </div>
          ))}
          <button type="button" className="btn btn-small" disabled={(q.choices?.length ?? 0) >= 20} onClick={() => set({ ...q, choices: [...(q.choices ?? []), newChoice(q)] })} data-testid="add-choice">
            Add choice
          </button>
        </div>
      )}
      {(isChoice(q.type) || isScore(q.type)) && (
        <div className="fb-skips" role="group" aria-label={`Logic of question ${n}`}>
          {rules.map((r, ri) => (
            <div className="fb-skip" key={ri} data-testid="skip-rule">
              <span>If the answer is</span>
              {isChoice(q.type) ? (
                <span role="group" aria-label={`Rule ${ri + 1}: choices`} className="row gap-small">
                  {(q.choices ?? []).map((c, ci) => (
                    <label key={c.id} className="check">
                      <input
                        type="checkbox"
                        checked={(r.choiceIds ?? []).includes(c.id ?? -1)}
                        onChange={(e) =>
                          setRule(ri, { ...r, choiceIds: e.target.checked ? [...(r.choiceIds ?? []), c.id!] : (r.choiceIds ?? []).filter((x) => x !== c.id) })
                        }
                        data-testid="skip-choice"
                      />
                      {c.label || `choice ${ci + 1}`}
                    </label>
                  ))}
                </span>
              ) : (
                <>
                  <span>between</span>
                  <input type="number" min={lo} max={hi} value={r.minScore ?? lo} aria-label={`Rule ${ri + 1}: lowest score`} onChange={(e) => setRule(ri, { ...r, minScore: Number(e.target.value) })} data-testid="skip-min" />
                  <span>and</span>
                  <input type="number" min={lo} max={hi} value={r.maxScore ?? hi} aria-label={`Rule ${ri + 1}: highest score`} onChange={(e) => setRule(ri, { ...r, maxScore: Number(e.target.value) })} data-testid="skip-max" />
                </>
              )}
              <label className="fb-inline">
                <span>go to</span>
                <select value={r.toQuestionId ?? 0} onChange={(e) => setRule(ri, { ...r, toQuestionId: Number(e.target.value) })} data-testid="skip-to">
                  {later.map((lq) => (
                    <option key={lq.id} value={lq.id}>
                      question {all.indexOf(lq) + 1}
                    </option>
                  ))}
                  <option value={0}>the end (thanks)</option>
                </select>
              </label>
              <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove rule ${ri + 1} of question ${n}`} onClick={() => set({ ...q, skip: rules.filter((_, j) => j !== ri) })}>
                ×
              </button>
            </div>
          ))}
          <button
            type="button"
            className="btn btn-small btn-ghost"
            disabled={rules.length >= 20}
            onClick={() =>
              set({
                ...q,
                skip: [...rules, isChoice(q.type) ? { choiceIds: [q.choices?.[0]?.id ?? 0], toQuestionId: later[0]?.id ?? 0 } : { minScore: lo, maxScore: hi, toQuestionId: later[0]?.id ?? 0 }],
              })
            }
            data-testid="add-skip"
          >
            Add logic: skip by answer
          </button>
        </div>
      )}
      <FieldError path={path} at={err} />
    </fieldset>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="card form">
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/** SurveyEdit builds a new survey (surveyId "new") or edits one. */
export function SurveyEdit() {
  const { orgId = "", siteId = "", surveyId = "" } = useParams();
  const isNew = surveyId === "new";
  const navigate = useNavigate();
  const { me } = useApp();
  const editable = canManage(myRole(me, orgId));
  const qc = useQueryClient();
  const loaded = $api.useQuery("get", "/api/v1/sites/{siteId}/surveys/{surveyId}", { params: { path: { siteId, surveyId } } }, { enabled: !isNew, refetchOnWindowFocus: false });
  const [draft, setDraft] = useState<Survey | undefined>(isNew ? emptySurvey() : undefined);
  useEffect(() => {
    if (loaded.data?.survey) setDraft(loaded.data.survey);
  }, [loaded.data]);
  const base = `/o/${orgId}/sites/${siteId}`;
  const done = (s: Survey | undefined) => {
    void qc.invalidateQueries({ queryKey: LIST_KEY });
    if (s?.id) qc.setQueryData($api.queryOptions("get", "/api/v1/sites/{siteId}/surveys/{surveyId}", { params: { path: { siteId, surveyId: s.id } } }).queryKey, { survey: s });
    navigate(`${base}/surveys`);
  };
  const create = $api.useMutation("post", "/api/v1/sites/{siteId}/surveys", { onSuccess: (r) => done(r.survey) });
  const update = $api.useMutation("put", "/api/v1/sites/{siteId}/surveys/{surveyId}", { onSuccess: (r) => done(r.survey) });
  const boot = useMemo(() => (draft ? bootSurvey(toSaveBody(draft)) : undefined), [draft]);
  if (!isNew && !draft) return <QueryStatus query={loaded} />;
  if (!draft) return null;
  const error = create.error ?? update.error;
  const field = error instanceof ApiError ? fieldOfError(error.message) : undefined;
  const at = field && error instanceof ApiError ? { field, message: error.message } : undefined;
  const questions = draft.questions ?? [];
  const tg = draft.targeting ?? {};
  const tr = draft.trigger ?? {};
  const set = (patch: Partial<Survey>) => {
    setDraft({ ...draft, ...patch });
    // A refusal is about what was sent: editing clears it.
    if (create.error) create.reset();
    if (update.error) update.reset();
  };
  const setQ = (qs: Question[]) => set({ questions: qs });
  const save = (e: FormEvent, status?: Survey["status"]) => {
    e.preventDefault();
    const body = toSaveBody({ ...draft, status: status ?? draft.status });
    if (isNew) create.mutate({ params: { path: { siteId } }, body: { survey: body } });
    else update.mutate({ params: { path: { siteId, surveyId } }, body: { survey: body } });
  };
  // Fields the form shows messages at; any other message shows above the buttons.
  const shown = ["name", "questions[", "targeting.pages", "targeting.attributes", "trigger", "sampleRate", "endTime", "startTime", "responseLimit", "thanks", "language"];
  const elsewhere = error && !(field && shown.some((f) => field.startsWith(f)));
  const busy = create.isPending || update.isPending;
  const pct = Math.round((draft.sampleRate ?? 1) * 100);
  return (
    <div data-testid="survey-builder">
      <PageHeader title={isNew ? "New survey" : `Survey: ${loaded.data?.survey?.name ?? ""}`} subtitle={<Link to={`${base}/surveys`}>← All surveys</Link>} />
      <div className="fb-split">
        <form onSubmit={(e) => save(e)} noValidate>
          <fieldset disabled={!editable} className="plain-fieldset">
            <Section title="Survey">
              <label>
                Name (only shown in the dashboard)
                <input value={draft.name ?? ""} maxLength={100} onChange={(e) => set({ name: e.target.value })} required data-testid="survey-name" />
              </label>
              <FieldError path="name" at={at} />
              <div className="fb-grid2">
                <label>
                  Language of the survey's buttons
                  <LanguageSelect value={draft.language} onChange={(language) => set({ language })} testId="survey-language" />
                </label>
                <label>
                  Thanks text
                  <input value={draft.thanks ?? ""} maxLength={300} placeholder="Thank you!" onChange={(e) => set({ thanks: e.target.value })} data-testid="survey-thanks" />
                </label>
              </div>
              <FieldError path="language" at={at} />
              <FieldError path="thanks" at={at} />
            </Section>
            <Section title="Questions">
              {questions.map((q, i) => (
                <QuestionEditor
                  key={q.id ?? i}
                  q={q}
                  index={i}
                  all={questions}
                  err={at}
                  set={(nq) => setQ(questions.map((x, j) => (j === i ? nq : x)))}
                  move={(d) => {
                    const qs = [...questions];
                    [qs[i], qs[i + d]] = [qs[i + d]!, qs[i]!];
                    // A rule may only skip forward: drop those a move turned backwards.
                    setQ(qs.map((x, xi) => ({ ...x, skip: (x.skip ?? []).filter((r) => !r.toQuestionId || qs.findIndex((y) => y.id === r.toQuestionId) > xi) })));
                  }}
                  remove={() =>
                    setQ(questions.filter((_, j) => j !== i).map((x) => ({ ...x, skip: (x.skip ?? []).filter((r) => r.toQuestionId !== q.id) })))
                  }
                />
              ))}
              <FieldError path="questions" at={at && !/^questions\[/.test(at.field) ? at : undefined} />
              <button type="button" className="btn" disabled={questions.length >= 20} onClick={() => setQ([...questions, newQuestion(questions)])} data-testid="add-question">
                Add question
              </button>
            </Section>
            <Section title="Who sees it">
              <RuleList label="Pages" value={tg.pages ?? []} onChange={(pages) => set({ targeting: { ...tg, pages } })} testId="survey-pages" error={at && errorAt(at.field, "targeting.pages") ? at.message : undefined} />
              <fieldset className="fb-rules">
                <legend>Devices</legend>
                <div className="row gap">
                  {DEVICE_CHOICES.map((d) => (
                    <label key={d.value} className="check">
                      <input
                        type="checkbox"
                        checked={(tg.deviceTypes ?? []).includes(d.value)}
                        onChange={(e) =>
                          set({ targeting: { ...tg, deviceTypes: e.target.checked ? [...(tg.deviceTypes ?? []), d.value] : (tg.deviceTypes ?? []).filter((x) => x !== d.value) } })
                        }
                        data-testid={`survey-device-${d.value}`}
                      />
                      {d.label}
                    </label>
                  ))}
                </div>
                <p className="muted small">None checked: every device.</p>
              </fieldset>
              <label>
                Visitors
                <select value={tg.visitors ?? "VISITORS_UNSPECIFIED"} onChange={(e) => set({ targeting: { ...tg, visitors: e.target.value as typeof tg.visitors } })} data-testid="survey-visitors">
                  <option value="VISITORS_UNSPECIFIED">New and returning</option>
                  <option value="VISITORS_NEW">New visitors only</option>
                  <option value="VISITORS_RETURNING">Returning visitors only</option>
                </select>
              </label>
              <fieldset className="fb-rules">
                <legend>Visitor attributes (from sightline('identify', …); each must equal)</legend>
                {(tg.attributes ?? []).map((a, i) => (
                  <div key={i} className="row gap-small">
                    <input aria-label={`Attribute ${i + 1} name`} placeholder="plan" value={a.key ?? ""} maxLength={100} onChange={(e) => set({ targeting: { ...tg, attributes: (tg.attributes ?? []).map((x, j) => (j === i ? { ...x, key: e.target.value } : x)) } })} data-testid="attr-key" />
                    <span>=</span>
                    <input aria-label={`Attribute ${i + 1} value`} placeholder="pro" value={a.value ?? ""} maxLength={100} onChange={(e) => set({ targeting: { ...tg, attributes: (tg.attributes ?? []).map((x, j) => (j === i ? { ...x, value: e.target.value } : x)) } })} data-testid="attr-value" />
                    <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove attribute ${i + 1}`} onClick={() => set({ targeting: { ...tg, attributes: (tg.attributes ?? []).filter((_, j) => j !== i) } })}>
                      ×
                    </button>
                  </div>
                ))}
                <button type="button" className="btn btn-small" disabled={(tg.attributes?.length ?? 0) >= 10} onClick={() => set({ targeting: { ...tg, attributes: [...(tg.attributes ?? []), { key: "", value: "" }] } })} data-testid="add-attr">
                  Add attribute
                </button>
                <FieldError path="targeting.attributes" at={at} />
              </fieldset>
              <label>
                Show it to {pct}% of targeted visitors
                <input type="range" min={0} max={100} value={pct} onChange={(e) => set({ sampleRate: Number(e.target.value) / 100 })} data-testid="survey-sample" />
              </label>
              <FieldError path="sampleRate" at={at} />
              <label className="toggle">
                <input type="checkbox" checked={!!draft.oncePerVisitor} onChange={(e) => set({ oncePerVisitor: e.target.checked })} data-testid="survey-once" />
                <span>
                  <strong>Once per visitor</strong>
                  <small className="muted">Never show it again to a visitor who saw it, answered or not.</small>
                </span>
              </label>
            </Section>
            <Section title="When">
              <div className="fb-grid2">
                <label>
                  Show it
                  <select value={tr.kind && tr.kind !== "KIND_UNSPECIFIED" ? tr.kind : "KIND_ON_LOAD"} onChange={(e) => set({ trigger: { ...tr, kind: e.target.value as typeof tr.kind } })} data-testid="survey-trigger">
                    {TRIGGERS.map((t) => (
                      <option key={t.value} value={t.value}>
                        {t.label}
                      </option>
                    ))}
                  </select>
                </label>
                {tr.kind === "KIND_AFTER_SECONDS" && (
                  <label>
                    Seconds on the page
                    <input type="number" min={1} max={3600} value={tr.seconds ?? ""} onChange={(e) => set({ trigger: { ...tr, seconds: Number(e.target.value) } })} data-testid="survey-seconds" />
                  </label>
                )}
                {tr.kind === "KIND_SCROLL_PERCENT" && (
                  <label>
                    Scrolled % of the page
                    <input type="number" min={1} max={100} value={tr.scrollPercent ?? ""} onChange={(e) => set({ trigger: { ...tr, scrollPercent: Number(e.target.value) } })} data-testid="survey-scroll" />
                  </label>
                )}
                {tr.kind === "KIND_CUSTOM_EVENT" && (
                  <label>
                    Event name (sightline('event', name))
                    <input value={tr.event ?? ""} maxLength={100} onChange={(e) => set({ trigger: { ...tr, event: e.target.value } })} data-testid="survey-event" />
                  </label>
                )}
              </div>
              <FieldError path="trigger" at={at} />
              <div className="fb-grid2">
                <label>
                  Start
                  <input type="datetime-local" value={localInput(draft.startTime)} onChange={(e) => set({ startTime: fromLocalInput(e.target.value) })} data-testid="survey-start-time" />
                </label>
                <label>
                  Stop
                  <input type="datetime-local" value={localInput(draft.endTime)} onChange={(e) => set({ endTime: fromLocalInput(e.target.value) })} data-testid="survey-end-time" />
                </label>
                <label>
                  Stop after this many responses (0: no limit)
                  <input type="number" min={0} value={draft.responseLimit ?? "0"} onChange={(e) => set({ responseLimit: e.target.value || "0" })} data-testid="survey-limit" />
                </label>
              </div>
              <FieldError path="startTime" at={at} />
              <FieldError path="endTime" at={at} />
              <FieldError path="responseLimit" at={at} />
            </Section>
          </fieldset>
          {elsewhere && <ErrorBox error={error} />}
          {editable && (
            <div className="row gap">
              <button className="btn btn-primary" type="submit" disabled={busy} data-testid="survey-save">
                {busy ? "Saving…" : isNew ? "Save as draft" : "Save"}
              </button>
              {draft.status !== "SURVEY_STATUS_ACTIVE" && (
                <button className="btn" type="button" disabled={busy} onClick={(e) => save(e, "SURVEY_STATUS_ACTIVE")} data-testid="survey-save-start">
                  Save and start
                </button>
              )}
              {/* Visitors' browsers read a site's settings through a cache of up to a minute. */}
              <span className="muted small" data-testid="survey-start-note">
                {draft.status === "SURVEY_STATUS_ACTIVE" ? "Changes reach visitors within a minute." : "A started survey reaches visitors within a minute."}
              </span>
              {at && (
                <span className="warn small" role="status">
                  Not saved: see the message at the field.
                </span>
              )}
            </div>
          )}
        </form>
        {boot && <Preview survey={boot} label="Preview" />}
      </div>
    </div>
  );
}
