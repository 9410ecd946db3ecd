// The live preview: the tracker's own widget and survey code (its
// side-effect-free ui module, no network, no globals) rendered into a box of
// the dashboard, so what the owner sees is what visitors get. The module is
// found through a glob so the dashboard builds with or without it, and it
// loads lazily into its own chunk.
import { useEffect, useRef, useState } from "react";
import type { BootFeedback, BootSurvey } from "./convert";

type Mounted = { destroy(): void } | undefined;

// tracker/src/feedback/ui.ts, as far as the preview uses it (the glob does not type-check the tracker's code under the dashboard's settings).
interface PreviewModule {
  mountWidget(host: HTMLElement, settings: BootFeedback, opts: { preview: true; open?: boolean }): Mounted;
  mountSurvey(host: HTMLElement, survey: BootSurvey, opts: { preview: true }): Mounted;
}

const modules = import.meta.glob<PreviewModule>("../../../tracker/src/feedback/ui.ts");
const load = Object.values(modules)[0];

/** Whether this build has the tracker's preview module. */
export const previewAvailable = !!load;


export function Preview({ widget, survey, label }: { widget?: BootFeedback; survey?: BootSurvey; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string>();
  const [state, setState] = useState<"loading" | "shown" | "error">("loading");
  // Re-mount when what is shown changes, not on every render.
  const key = JSON.stringify(widget ?? survey ?? null);
  useEffect(() => {
    const el = host.current;
    if (!el || !load) return;
    let cancelled = false;
    let mounted: Mounted;
    // The settings being typed change often: mount once they rest.
    const t = setTimeout(() => {
      load()
        .then((m) => {
          if (cancelled) return;
          el.replaceChildren();
          mounted = widget ? m.mountWidget(el, widget, { preview: true, open: true }) : survey ? m.mountSurvey(el, survey, { preview: true }) : undefined;
          setError(undefined);
          setState("shown");
        })
        .catch((e: unknown) => {
          if (cancelled) return;
          setError(e instanceof Error ? e.message : String(e));
          setState("error");
        });
    }, 150);
    return () => {
      cancelled = true;
      clearTimeout(t);
      try {
        mounted?.destroy();
      } catch {
        // A preview that fails to clean up must not break the form.
      }
      el.replaceChildren();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (!load) {
    return (
      <div className="fb-preview fb-preview-none" data-testid="preview" data-state="unavailable">
        <p className="muted small">The live preview needs the tracker's widget module, which this build does not include.</p>
      </div>
    );
  }
  return (
    <figure className="fb-preview-wrap">
      <figcaption className="filter-label">
        {label} <span className="muted small">(what visitors see; not interactive here)</span>
      </figcaption>
      {/* contain: paint makes the box the containing block of the widget's fixed positioning. Inert: the
          widget takes the focus when it opens and keeps Tab inside its dialog (right for visitors), which
          would pull the focus out of the form on every change and trap keyboard users in the preview. */}
      <div className="fb-preview" ref={host} data-testid="preview" data-state={state} inert />
      {error && (
        <p className="field-error" role="alert">
          The preview failed: {error}
        </p>
      )}
    </figure>
  );
}
