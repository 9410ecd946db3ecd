// One of the widget's five faces (1 worst … 5 best) as SVG: emoji depend on
// the viewer's fonts (a machine without an emoji font shows empty boxes).
import { FACE_LABELS } from "./convert";
import { RATING_COLORS } from "./Charts";

export function Face({ rating, size = 22, label = true }: { rating: number; size?: number; label?: boolean }) {
  const i = Math.min(5, Math.max(1, Math.round(rating))) - 1;
  // The mouth bends from a frown (1) to a wide smile (5).
  const bend = (i - 2) * 3;
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      className="fb-face"
      {...(label ? { role: "img", "aria-label": `${i + 1} of 5 (${FACE_LABELS[i]})` } : { "aria-hidden": true })}
    >
      <circle cx="12" cy="12" r="11" fill={RATING_COLORS[i]} />
      <circle cx="8.5" cy="9.5" r="1.4" fill="#1b1f24" />
      <circle cx="15.5" cy="9.5" r="1.4" fill="#1b1f24" />
      <path d={`M7 ${15.5 - bend / 3} Q12 ${15.5 + bend} 17 ${15.5 - bend / 3}`} stroke="#1b1f24" strokeWidth="1.6" fill="none" strokeLinecap="round" />
    </svg>
  );
}
