// Digest frequencies, outbox e-mail kinds and the unsubscribe page's
// sentence, in people's words.
import type { Schemas } from "../api/client";

export type DigestFrequency = Schemas["v1DigestFrequency"];
export type OutboxEmail = Schemas["v1OutboxEmail"];

export const FREQUENCIES: { value: DigestFrequency; label: string; help: string }[] = [
  { value: "DIGEST_FREQUENCY_OFF", label: "Off", help: "No digest e-mail." },
  { value: "DIGEST_FREQUENCY_DAILY", label: "Daily", help: "Every morning, for the day before." },
  { value: "DIGEST_FREQUENCY_WEEKLY", label: "Weekly", help: "Every Monday, for the week before." },
];

/** frequencyOf reads the API's answer; never set is Off. */
export function frequencyOf(f: DigestFrequency | undefined): DigestFrequency {
  return !f || f === "DIGEST_FREQUENCY_UNSPECIFIED" ? "DIGEST_FREQUENCY_OFF" : f;
}

/** KIND_LABELS names notify's templates (OutboxEmail.kind). */
export const KIND_LABELS: Record<string, string> = {
  verify_email: "Verify e-mail",
  password_reset: "Password reset",
  invitation: "Invitation",
  new_login: "New log-in",
  signup_existing: "Sign-up with existing address",
  alert: "Alert",
  digest: "Digest",
  webhook_disabled: "Webhook disabled",
};

export function kindLabel(kind: string | undefined): string {
  return (kind && KIND_LABELS[kind]) || kind || "–";
}

/** unsubscribedText is what the unsubscribe page says once the token was used. */
export function unsubscribedText(r: Schemas["v1UnsubscribeResponse"]): string {
  const site = r.siteName?.trim() || (r.siteId ? `site ${r.siteId}` : "this site");
  if (r.kind === "alert") return `You will no longer get this alert for ${site}.`;
  return `You will no longer get the digest for ${site}.`;
}

/**
 * unsubscribeToken reads the token of an /unsubscribe link; undefined when
 * there is none or it is implausible (the page then says the link is broken
 * without asking the server).
 */
export function unsubscribeToken(search: string): string | undefined {
  const t = new URLSearchParams(search).get("token")?.trim();
  if (!t || t.length > 1024 || /\s/.test(t)) return undefined;
  return t;
}

/**
 * siteLinkTarget maps a link of notify's e-mails (/sites/{site}/…, without
 * the organisation) onto the dashboard's route of the same page, once the
 * site's organisation is known.
 */
export function siteLinkTarget(orgId: string, siteId: string, rest: string, search: string): string {
  const tail = rest.replace(/^\/+/, "") || "recordings";
  return `/o/${encodeURIComponent(orgId)}/sites/${encodeURIComponent(siteId)}/${tail}${search}`;
}

/**
 * localLink keeps the path of a link notify built against
 * notify.dashboard-url, so it opens in this dashboard whatever its address;
 * anything but an http(s) link (javascript:…) gives undefined.
 */
export function localLink(link: string): string | undefined {
  let u: URL;
  try {
    u = new URL(link, "http://dashboard.invalid");
  } catch {
    return undefined;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
  return u.pathname + u.search + u.hash;
}
