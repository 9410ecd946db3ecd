// Site settings → Feedback widget: whether the tab shows, where, in which
// colour, language and wording, whether visitors may point at an element,
// and on which pages; saved as the settings' `feedback` field (update mask
// "feedback"), with the tracker's real widget as a live preview.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { ApiError, type Schemas } from "../api/client";
import { $api } from "../api/query";
import { canManage, myRole, useApp } from "../app/AppContext";
import { ErrorBox, PageHeader, QueryStatus } from "../components/ui";
import { bootFeedback, DEFAULT_COLOR, errorAt, fieldOfError } from "../feedback/convert";
import { Preview } from "../feedback/Preview";
import { cleanRules, RuleList } from "../feedback/RuleList";
import { useSitePage } from "./Home";
import "../feedback/feedback.css";

type Widget = Schemas["v1FeedbackWidget"];

export const POSITIONS: { value: Schemas["FeedbackWidgetPosition"]; label: string }[] = [
  { value: "POSITION_RIGHT", label: "Right edge" },
  { value: "POSITION_LEFT", label: "Left edge" },
  { value: "POSITION_BOTTOM_RIGHT", label: "Bottom right" },
  { value: "POSITION_BOTTOM_LEFT", label: "Bottom left" },
];

export const LANGUAGES: { value: string; label: string }[] = [
  { value: "", label: "The visitor's browser language" },
  { value: "en", label: "English" },
  { value: "de", label: "Deutsch" },
  { value: "fr", label: "Français" },
  { value: "es", label: "Español" },
  { value: "it", label: "Italiano" },
  { value: "nl", label: "Nederlands" },
  { value: "pt", label: "Português" },
];

/** LanguageSelect picks the language of the widget's or a survey's default texts ("" follows the browser). */
export function LanguageSelect({ value, onChange, testId }: { value: string | undefined; onChange: (language: string) => void; testId: string }) {
  return (
    <select value={value ?? ""} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
      {LANGUAGES.map((l) => (
        <option key={l.value} value={l.value}>
          {l.label}
        </option>
      ))}
    </select>
  );
}

const MAX_TEXT = 200;

export default function FeedbackWidget() {
  const { orgId, siteId, site } = useSitePage();
  const { me } = useApp();
  const editable = canManage(myRole(me, orgId));
  const qc = useQueryClient();
  const init = { params: { path: { siteId } } };
  const loaded = $api.useQuery("get", "/api/v1/sites/{siteId}/settings", init, { refetchOnWindowFocus: false });
  const server = loaded.data?.settings?.feedback;
  const [draft, setDraft] = useState<Widget>();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (loaded.data) setDraft(loaded.data.settings?.feedback ?? {});
  }, [loaded.data]);
  const save = $api.useMutation("patch", "/api/v1/sites/{siteId}/settings", {
    onSuccess: (r) => {
      if (r.settings) qc.setQueryData($api.queryOptions("get", "/api/v1/sites/{siteId}/settings", init).queryKey, { settings: r.settings });
      setSaved(true);
    },
  });
  const boot = useMemo(() => (draft ? bootFeedback({ ...draft, pages: cleanRules(draft.pages) }) : undefined), [draft]);
  if (!loaded.data) return <QueryStatus query={loaded} />;
  if (!draft) return null;
  const next: Widget = { ...draft, pages: cleanRules(draft.pages) };
  const changed = JSON.stringify(normal(next)) !== JSON.stringify(normal(server ?? {}));
  const set = (patch: Partial<Widget>) => {
    setDraft({ ...draft, ...patch });
    setSaved(false);
    if (save.error) save.reset();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // The widget is one field of the settings: the mask replaces it whole and leaves the recording settings alone.
    save.mutate({ params: { path: { siteId } }, body: { settings: { feedback: next }, updateMask: "feedback" } });
  };
  const errPath = save.error instanceof ApiError ? fieldOfError(save.error.message) : undefined;
  const fieldError = (field: string) => (errorAt(errPath, `feedback.${field}`) && save.error instanceof ApiError ? save.error.message : undefined);
  const text = (k: "tabLabel" | "title" | "commentPrompt" | "thanks", label: string, placeholder: string) => (
    <label>
      {label}
      <input
        value={draft[k] ?? ""}
        maxLength={MAX_TEXT}
        placeholder={placeholder}
        onChange={(e) => set({ [k]: e.target.value })}
        aria-invalid={!!fieldError(k) || undefined}
        data-testid={`fw-${k}`}
      />
      {fieldError(k) && <span className="field-error">{fieldError(k)}</span>}
    </label>
  );

  return (
    <div>
      <PageHeader title="Feedback widget" subtitle={<>A small tab on the page edge of {site.data?.site?.name ?? "your site"}: visitors pick one of five faces, may comment and may point at what they mean.</>} />
      <div className="fb-split">
        <form className="card form settings" onSubmit={submit} data-testid="feedback-widget-form">
          <fieldset disabled={!editable}>
            <label className="toggle">
              <input type="checkbox" checked={!!draft.enabled} onChange={(e) => set({ enabled: e.target.checked })} name="enabled" data-testid="fw-enabled" />
              <span>
                <strong>Show the feedback tab</strong>
                <small className="muted">On the pages below, for every visitor (recorded or not); answers of recorded visitors link to their replay.</small>
              </span>
            </label>
            <div className="fb-grid2">
              <label>
                Position
                <select value={draft.position && draft.position !== "POSITION_UNSPECIFIED" ? draft.position : "POSITION_RIGHT"} onChange={(e) => set({ position: e.target.value as Widget["position"] })} data-testid="fw-position">
                  {POSITIONS.map((p) => (
                    <option key={p.value} value={p.value}>
                      {p.label}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Colour
                <span className="row gap-small">
                  <input type="color" value={draft.color || DEFAULT_COLOR} onChange={(e) => set({ color: e.target.value })} aria-label="Accent colour" data-testid="fw-color" />
                  <code>{draft.color || `${DEFAULT_COLOR} (default)`}</code>
                </span>
                {fieldError("color") && <span className="field-error">{fieldError("color")}</span>}
              </label>
              <label>
                Language of the default texts
                <LanguageSelect value={draft.language} onChange={(language) => set({ language })} testId="fw-language" />
              </label>
            </div>
            <div>
              <h3>Texts</h3>
              <p className="muted small">Leave a text empty for the language's default.</p>
            </div>
            <div className="fb-grid2">
              {text("tabLabel", "Tab", "Feedback")}
              {text("title", "Title", "How do you like this page?")}
              {text("commentPrompt", "Comment prompt", "Tell us more (optional)")}
              {text("thanks", "Thanks", "Thank you for your feedback!")}
            </div>
            <label className="toggle">
              <input type="checkbox" checked={!!draft.allowElement} onChange={(e) => set({ allowElement: e.target.checked })} name="allowElement" data-testid="fw-element" />
              <span>
                <strong>Let visitors point at an element</strong>
                <small className="muted">The visitor may pick the part of the page the feedback is about; it is highlighted and saved with the answer.</small>
              </span>
            </label>
            <RuleList label="Pages" value={draft.pages ?? []} onChange={(pages) => set({ pages })} testId="fw-pages" error={fieldError("pages")} />
          </fieldset>
          {/* A message naming a field shows there; any other here. */}
          {!["tabLabel", "title", "commentPrompt", "thanks", "color", "pages"].some((f) => fieldError(f)) && <ErrorBox error={save.error} />}
          {editable && (
            <div className="row gap">
              <button className="btn btn-primary" type="submit" disabled={save.isPending || !changed} data-testid="fw-save">
                {save.isPending ? "Saving…" : "Save widget"}
              </button>
              {saved && !changed && (
                <span className="ok" role="status">
                  Saved. Visitors get the new widget within a minute.
                </span>
              )}
            </div>
          )}
        </form>
        {boot && <Preview widget={boot} label="Preview" />}
      </div>
    </div>
  );
}

// protojson leaves out false, "" and empty lists; compare without them.
function normal(w: Widget): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(w)) {
    if (v === undefined || v === false || v === "" || v === "POSITION_UNSPECIFIED" || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
