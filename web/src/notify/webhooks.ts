// Webhooks as the webhooks page shows and edits them: the events a webhook
// can subscribe to, the form's checks, what changed (the update mask), and
// how a delivery reads in the log.
import type { Schemas } from "../api/client";

export type Webhook = Schemas["v1Webhook"];
export type Delivery = Schemas["v1WebhookDelivery"];
export type DeliveryState = Schemas["v1DeliveryState"];

/** The events a webhook can subscribe to (notify.proto); "webhook.test" is only sent by "Send test event". */
export const EVENTS: { type: string; label: string; help: string }[] = [
  { type: "session.ended", label: "Session ended", help: "A visitor's session is over; with its summary and a link to the recording." },
  { type: "feedback.created", label: "Feedback received", help: "A visitor answered the feedback widget." },
  { type: "survey.response.created", label: "Survey answered", help: "A visitor answered a survey." },
  { type: "site.no_data", label: "No data", help: "The site stopped sending data for a day, or as soon as a no-data alert on it fires (the installation may be broken)." },
];

export const MAX_URL = 2048;
export const MAX_DESCRIPTION = 200;

export interface WebhookDraft {
  url: string;
  events: string[];
  description: string;
}

export type WebhookErrors = Partial<Record<keyof WebhookDraft, string>>;

/**
 * validateWebhook checks what the browser can: an absolute http(s) URL
 * without credentials, at least one known event. Whether the target is
 * allowed (private addresses) only the server knows.
 */
export function validateWebhook(d: WebhookDraft): WebhookErrors {
  const e: WebhookErrors = {};
  const raw = d.url.trim();
  if (!raw) e.url = "Enter the URL that should receive the events.";
  else if (raw.length > MAX_URL) e.url = `The URL may be at most ${MAX_URL} characters.`;
  else {
    let u: URL | undefined;
    try {
      u = new URL(raw);
    } catch {
      e.url = "Enter a full URL, like https://example.com/hooks/sightline.";
    }
    if (u) {
      if (u.protocol !== "https:" && u.protocol !== "http:") e.url = "The URL must start with https:// or http://.";
      else if (u.username || u.password) e.url = "Leave credentials out of the URL; check the signature instead.";
    }
  }
  const known = new Set(EVENTS.map((ev) => ev.type));
  if (d.events.length === 0) e.events = "Choose at least one event.";
  else if (d.events.some((ev) => !known.has(ev))) e.events = "Choose events from the list.";
  if (d.description.length > MAX_DESCRIPTION) e.description = `The description may be at most ${MAX_DESCRIPTION} characters.`;
  return e;
}

/** draftOf is a webhook's editable fields. */
export function draftOf(w: Webhook): WebhookDraft {
  return { url: w.url ?? "", events: [...(w.events ?? [])], description: w.description ?? "" };
}

/** updateMask names the fields an edit changed, in the API's words. */
export function updateMask(before: WebhookDraft, after: WebhookDraft): string[] {
  const mask: string[] = [];
  if (before.url.trim() !== after.url.trim()) mask.push("url");
  const a = [...before.events].sort().join("\n");
  const b = [...after.events].sort().join("\n");
  if (a !== b) mask.push("events");
  if (before.description.trim() !== after.description.trim()) mask.push("description");
  return mask;
}

/** toggleEvent adds or removes an event, keeping the list's order. */
export function toggleEvent(events: string[], type: string, on: boolean): string[] {
  const rest = events.filter((e) => e !== type);
  if (!on) return rest;
  const order = EVENTS.map((e) => e.type);
  return [...rest, type].sort((x, y) => order.indexOf(x) - order.indexOf(y));
}

export function eventLabel(type: string | undefined): string {
  if (type === "webhook.test") return "Test event";
  return EVENTS.find((e) => e.type === type)?.label ?? type ?? "–";
}

/** STATES: each delivery state's word and badge. */
export const STATES: Record<DeliveryState, { label: string; badge: string }> = {
  DELIVERY_STATE_UNSPECIFIED: { label: "Unknown", badge: "badge-dead" },
  DELIVERY_STATE_PENDING: { label: "Pending", badge: "badge-dead" },
  DELIVERY_STATE_RETRYING: { label: "Retrying", badge: "badge-error" },
  DELIVERY_STATE_SUCCEEDED: { label: "Succeeded", badge: "badge-ok" },
  DELIVERY_STATE_FAILED: { label: "Failed", badge: "badge-rage" },
};

export function stateOf(d: Delivery): { label: string; badge: string } {
  return STATES[d.state ?? "DELIVERY_STATE_UNSPECIFIED"] ?? STATES.DELIVERY_STATE_UNSPECIFIED;
}

/** inFlight says whether a delivery may still change (the log keeps polling while one does). */
export function inFlight(d: Delivery): boolean {
  return d.state === "DELIVERY_STATE_PENDING" || d.state === "DELIVERY_STATE_RETRYING";
}

/** prettyJson indents a JSON text; anything else comes back as it was. */
export function prettyJson(text: string | undefined): string {
  if (!text) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** statusText reads a delivery's last HTTP status: "200", or "no answer" when none came back. */
export function statusText(d: Delivery): string {
  if (!d.attempts) return "–";
  return d.lastStatusCode ? String(d.lastStatusCode) : "no answer";
}

/** failingBanner says why a webhook is off, or undefined when it is on (or a user turned it off). */
export function failingBanner(w: Webhook): string | undefined {
  if (w.enabled || w.disabledReason !== "failing") return undefined;
  const n = w.consecutiveFailures ?? 0;
  return `Sightline turned this webhook off because its deliveries kept failing${n ? ` (${n} in a row)` : ""}. Fix the receiver, then re-enable it.`;
}
