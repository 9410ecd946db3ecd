// HitBody is a traffic beacon's body as it leaves the browser (docs/wire-format.md, "Hit"), for
// the unit and the real-browser tests that read what was sent.
export interface HitBody {
  v: number;
  sessionId: string;
  visitorId: string;
  recorded: boolean;
  screen: [number, number];
  hits: { kind: string; pageViewId: string; time: number; url?: string; referrer?: string; duration?: number; name?: string }[];
}
