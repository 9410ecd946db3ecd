import { formatClock } from "../lib/format";
import { MARKER_LABELS, type Marker } from "../lib/timeline";
import { sliderTarget } from "./shortcuts";

interface Props {
  total: number;
  current: number;
  loadedMs: number;
  markers: readonly Marker[];
  onSeek: (ms: number) => void;
  onMarker: (m: Marker) => void;
}

/**
 * Timeline is the replay's slider (click or arrows to seek) with the pages,
 * clicks and frustrations marked over it. The markers are buttons beside
 * the slider, not in it: a slider's content is presentational.
 */
export function Timeline({ total, current, loadedMs, markers, onSeek, onMarker }: Props) {
  const pct = (ms: number) => `${(ms / total) * 100}%`;
  return (
    <div className="timeline">
      <div
        className="timeline-slider"
        data-testid="timeline"
        role="slider"
        tabIndex={0}
        aria-label="Timeline"
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={current}
        aria-valuetext={`${formatClock(current)} of ${formatClock(total)}`}
        onClick={(e) => {
          const rect = e.currentTarget.getBoundingClientRect();
          onSeek(((e.clientX - rect.left) / rect.width) * total);
        }}
        onKeyDown={(e) => {
          const to = sliderTarget(e.key, e.shiftKey, current, total);
          if (to === undefined || e.ctrlKey || e.metaKey || e.altKey) return;
          e.preventDefault();
          onSeek(to);
        }}
      >
        <div className="timeline-buffered" style={{ width: pct(loadedMs) }} />
        <div className="timeline-progress" style={{ width: pct(current) }} />
        <div className="timeline-head" style={{ left: pct(current) }} />
      </div>
      {markers.map((m, i) => (
        <button
          key={`${m.kind}-${m.time}-${i}`}
          type="button"
          className={`marker marker-${m.kind}`}
          style={{ left: pct(m.offset) }}
          title={`${formatClock(m.offset)} · ${MARKER_LABELS[m.kind]}: ${m.label}`}
          data-testid="timeline-marker"
          data-kind={m.kind}
          onClick={() => onMarker(m)}
        />
      ))}
    </div>
  );
}
