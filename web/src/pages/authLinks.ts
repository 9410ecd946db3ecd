// The pure logic of the log-in, sign-up and e-mail link pages.
import { ApiError } from "../api/client";

/** safeNext keeps only same-site paths ("/…", never "//evil.example"). */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

/**
 * linkToken reads an e-mailed link's token from a location's search string:
 * "" when absent or not a token (tokens are a prefix and base64url, so
 * anything else is a mangled link, not worth a request).
 */
export function linkToken(search: string): string {
  const t = (new URLSearchParams(search).get("token") ?? "").trim();
  return /^[A-Za-z0-9_-]{8,200}$/.test(t) ? t : "";
}

/** gRPC's FAILED_PRECONDITION, which log-in answers for an unconfirmed address. */
const FAILED_PRECONDITION = 9;

/** isUnverified tells a log-in refused because the address is not confirmed yet. */
export function isUnverified(error: unknown): boolean {
  return error instanceof ApiError && error.code === FAILED_PRECONDITION;
}

/** passwordProblem says what is wrong with a new password and its repetition, or "". */
export function passwordProblem(password: string, again: string, minLength = 10): string {
  if ([...password].length < minLength) return `Use at least ${minLength} characters.`;
  if (password !== again) return "The two passwords differ.";
  return "";
}

const NEXT_KEY = "sightline.after-verify";

/**
 * rememberNext keeps where sign-up was headed (an invitation, say) for the
 * verification link, which opens in a new tab of, usually, the same browser.
 */
export function rememberNext(next: string | null, storage: Pick<Storage, "setItem" | "removeItem"> = localStorage): void {
  const safe = safeNext(next);
  if (safe === "/") storage.removeItem(NEXT_KEY);
  else storage.setItem(NEXT_KEY, safe);
}

/** takeNext answers (once) where to go after verifying: the remembered path, or "/". */
export function takeNext(storage: Pick<Storage, "getItem" | "removeItem"> = localStorage): string {
  const next = safeNext(storage.getItem(NEXT_KEY));
  storage.removeItem(NEXT_KEY);
  return next;
}
