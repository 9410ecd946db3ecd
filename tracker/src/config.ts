// Site settings inlined by ingest into the bootstrap (docs/wire-format.md, "Bootstrap settings").
export interface Config {
  siteKey: string;
  endpoint: string;
  recorderUrl: string;
  sampleRate: number;
  recording: boolean;
  respectDnt: boolean;
  requireConsent: boolean;
  maskAllText: boolean;
  maskSelectors: string[];
  blockSelectors: string[];
  unmaskSelectors: string[];
  flags: string[];
  recordCanvas: boolean;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string' && s.trim() !== '') : [];
}

// normalizeConfig turns whatever ingest inlined into a Config with safe defaults: privacy settings
// default to the private choice when missing or of the wrong type.
export function normalizeConfig(raw: unknown): Config | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.siteKey !== 'string' || typeof r.endpoint !== 'string') return null;
  const rate = typeof r.sampleRate === 'number' && r.sampleRate >= 0 ? Math.min(r.sampleRate, 1) : 1;
  return {
    siteKey: r.siteKey,
    endpoint: r.endpoint,
    recorderUrl: typeof r.recorderUrl === 'string' ? r.recorderUrl : '',
    sampleRate: rate,
    recording: r.recording !== false,
    respectDnt: r.respectDnt !== false,
    requireConsent: r.requireConsent === true,
    maskAllText: r.maskAllText === true,
    maskSelectors: strings(r.maskSelectors),
    blockSelectors: strings(r.blockSelectors),
    unmaskSelectors: strings(r.unmaskSelectors),
    flags: strings(r.flags),
    // Canvas pixels can be anything the page draws: off unless the site opts in.
    recordCanvas: r.recordCanvas === true,
  };
}
