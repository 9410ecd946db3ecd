// Validation of the page-facing API arguments, to the limits of docs/wire-format.md: what does not
// fit is dropped (keys) or cut (values), never sent oversized.
export const MAX_ATTRS = 50;
export const MAX_KEY = 64;
export const MAX_VALUE = 512;
export const MAX_USER_ID = 256;
export const MAX_EVENT_NAME = 128;

export interface IdentifyPayload {
  userId: string;
  attributes: Record<string, string>;
}
export interface EventPayload {
  name: string;
  properties: Record<string, string | number | boolean>;
}

function keys(o: unknown): string[] {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return [];
  return Object.keys(o as object).filter((k) => k.length > 0 && k.length <= MAX_KEY);
}

export function identifyPayload(userId: unknown, attrs: unknown): IdentifyPayload | null {
  if (typeof userId === 'number' && isFinite(userId)) userId = String(userId);
  if (typeof userId !== 'string' || !userId || userId.length > MAX_USER_ID) return null;
  const out: Record<string, string> = {};
  let n = 0;
  for (const k of keys(attrs)) {
    if (n >= MAX_ATTRS) break;
    const v = (attrs as Record<string, unknown>)[k];
    if (typeof v === 'string' || (typeof v === 'number' && isFinite(v)) || typeof v === 'boolean') {
      out[k] = String(v).slice(0, MAX_VALUE);
      n++;
    }
  }
  return { userId, attributes: out };
}

export function eventPayload(name: unknown, props: unknown): EventPayload | null {
  if (typeof name !== 'string' || !name || name.length > MAX_EVENT_NAME) return null;
  const out: Record<string, string | number | boolean> = {};
  let n = 0;
  for (const k of keys(props)) {
    if (n >= MAX_ATTRS) break;
    const v = (props as Record<string, unknown>)[k];
    if (typeof v === 'string') out[k] = v.slice(0, MAX_VALUE);
    else if ((typeof v === 'number' && isFinite(v)) || typeof v === 'boolean') out[k] = v;
    else continue;
    n++;
  }
  return { name, properties: out };
}
