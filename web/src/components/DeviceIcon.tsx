/** DeviceIcon draws the form factor as a small outline (no emoji fonts needed). */
export function DeviceIcon({ type }: { type: string | undefined }) {
  const common = { className: "device-icon", viewBox: "0 0 16 16", fill: "none", stroke: "currentColor", strokeWidth: 1.4, "aria-hidden": true } as const;
  switch (type) {
    case "DEVICE_TYPE_MOBILE":
      return (
        <svg {...common}>
          <rect x="4.5" y="1.5" width="7" height="13" rx="1.5" />
          <path d="M7 12.5h2" />
        </svg>
      );
    case "DEVICE_TYPE_TABLET":
      return (
        <svg {...common}>
          <rect x="2.5" y="1.5" width="11" height="13" rx="1.5" />
          <path d="M7 12.5h2" />
        </svg>
      );
    case "DEVICE_TYPE_DESKTOP":
      return (
        <svg {...common}>
          <rect x="1.5" y="2.5" width="13" height="9" rx="1" />
          <path d="M5.5 14h5M8 11.5V14" />
        </svg>
      );
    case "DEVICE_TYPE_BOT":
      return (
        <svg {...common}>
          <rect x="2.5" y="5" width="11" height="8.5" rx="2" />
          <path d="M8 5V2.5M6 9h.01M10 9h.01" />
        </svg>
      );
    default:
      return (
        <svg {...common}>
          <circle cx="8" cy="8" r="5.5" />
        </svg>
      );
  }
}
