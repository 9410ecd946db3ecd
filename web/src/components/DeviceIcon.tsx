// Each form factor's outline in a 16 × 16 box: a rounded rectangle [x, y,
// width, height, corner radius] and a path of details; anything else is a circle.
const SHAPES: Record<string, { box: [number, number, number, number, number]; path: string }> = {
  DEVICE_TYPE_MOBILE: { box: [4.5, 1.5, 7, 13, 1.5], path: "M7 12.5h2" },
  DEVICE_TYPE_TABLET: { box: [2.5, 1.5, 11, 13, 1.5], path: "M7 12.5h2" },
  DEVICE_TYPE_DESKTOP: { box: [1.5, 2.5, 13, 9, 1], path: "M5.5 14h5M8 11.5V14" },
  DEVICE_TYPE_BOT: { box: [2.5, 5, 11, 8.5, 2], path: "M8 5V2.5M6 9h.01M10 9h.01" },
};

/** DeviceIcon draws the form factor as a small outline (no emoji fonts needed). */
export function DeviceIcon({ type }: { type: string | undefined }) {
  const shape = SHAPES[type ?? ""];
  return (
    <svg className="device-icon" viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth={1.4} aria-hidden>
      {shape ? (
        <>
          <rect x={shape.box[0]} y={shape.box[1]} width={shape.box[2]} height={shape.box[3]} rx={shape.box[4]} />
          <path d={shape.path} />
        </>
      ) : (
        <circle cx="8" cy="8" r="5.5" />
      )}
    </svg>
  );
}
