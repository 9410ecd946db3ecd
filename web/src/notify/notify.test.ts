import { describe, expect, it } from "vitest";
import { alertLinkLabel, defaultDraft, describeRule, draftFromRule, ruleFromDraft, ruleKind, validateDraft, type RuleDraft } from "./rules";
import { draftOf, eventLabel, failingBanner, inFlight, prettyJson, stateOf, statusText, toggleEvent, updateMask, validateWebhook } from "./webhooks";
import { frequencyOf, kindLabel, localLink, siteLinkTarget, unsubscribedText, unsubscribeToken } from "./mail";

describe("alert rules", () => {
  it("round-trips each kind through the form", () => {
    const rules = [
      { enabled: true, noData: { hours: 6 } },
      { enabled: true, rageClicks: { factor: 3, minSessions: 5 } },
      { enabled: false, jsErrors: { factor: 2.5, minSessions: 12 } },
      { enabled: true, answer: { maxRating: 2, maxNps: -1, textContains: "broken" } },
      { enabled: true, answer: { maxRating: 0, maxNps: 6, textContains: "", surveyId: "9007199254740993" } },
    ];
    for (const r of rules) {
      const d = draftFromRule(r);
      expect(validateDraft(d)).toEqual({});
      expect(ruleFromDraft(d)).toEqual(r);
    }
  });

  it("reads protojson's omitted zeros: NPS 0 is a score, -1 any", () => {
    const d = draftFromRule({ enabled: true, answer: { maxRating: 2 } });
    expect(d.maxNps).toBe("0");
    expect(d.maxRating).toBe("2");
    expect(draftFromRule({ answer: { maxNps: -1 } }).maxNps).toBe("");
    expect(ruleFromDraft({ ...defaultDraft("answer"), maxRating: "", maxNps: "" }).answer).toEqual({ maxRating: 0, maxNps: -1, textContains: "" });
  });

  it("checks the ranges of notify.proto", () => {
    const nd = (hours: string): RuleDraft => ({ ...defaultDraft("no_data"), hours });
    expect(validateDraft(nd("0")).hours).toMatch(/between 1 and 168/);
    expect(validateDraft(nd("169")).hours).toMatch(/between 1 and 168/);
    expect(validateDraft(nd("2.5")).hours).toMatch(/whole number/);
    expect(validateDraft(nd("")).hours).toMatch(/Enter/);
    expect(validateDraft(nd("abc")).hours).toMatch(/number/);
    expect(validateDraft(nd("168"))).toEqual({});
    const sp = { ...defaultDraft("rage_clicks"), factor: "1.4", minSessions: "100001" };
    expect(Object.keys(validateDraft(sp)).sort()).toEqual(["factor", "minSessions"]);
    expect(validateDraft({ ...sp, factor: "1.5", minSessions: "1" })).toEqual({});
    const an = { ...defaultDraft("answer"), maxRating: "6", maxNps: "11", textContains: "x".repeat(201), surveyId: "1; drop" };
    expect(Object.keys(validateDraft(an)).sort()).toEqual(["maxNps", "maxRating", "surveyId", "textContains"]);
    expect(validateDraft({ ...an, maxRating: "5", maxNps: "0", textContains: "x".repeat(200), surveyId: "" })).toEqual({});
  });

  it("says what a rule does in plain language", () => {
    expect(describeRule({ noData: { hours: 6 } })).toBe("Tell me when no data arrives for 6 hours");
    expect(describeRule({ noData: { hours: 1 } })).toBe("Tell me when no data arrives for 1 hour");
    expect(describeRule({ rageClicks: { factor: 3, minSessions: 5 } })).toBe("Tell me when sessions with rage clicks reach 3× the usual hourly rate (at least 5)");
    expect(describeRule({ jsErrors: { factor: 2.5, minSessions: 10 } })).toBe("Tell me when sessions with JavaScript errors reach 2.5× the usual hourly rate (at least 10)");
    expect(describeRule({ answer: { maxRating: 2, maxNps: -1 } })).toBe("Tell me about every feedback or survey answer rated 2 or lower");
    expect(describeRule({ answer: { maxNps: 6, textContains: "slow", surveyId: "7" } }, (id) => (id === "7" ? "Checkout NPS" : undefined))).toBe(
      "Tell me about every answer to Checkout NPS with NPS ≤ 6, containing “slow”",
    );
    expect(describeRule({})).toMatch(/does not know/);
    expect(ruleKind({ jsErrors: {} })).toBe("js_errors");
    expect(ruleKind({})).toBeUndefined();
  });

  it("names the page a fired alert links to", () => {
    expect(alertLinkLabel("http://localhost:8080/sites/1/feedback?rating_max=2")).toBe("See the answers");
    expect(alertLinkLabel("/sites/1/recordings?rage=1")).toBe("See the recordings");
  });
});

describe("webhooks", () => {
  const ok = { url: "https://example.com/hook", events: ["session.ended"], description: "" };
  it("accepts an http(s) URL with events and refuses the rest with a reason", () => {
    expect(validateWebhook(ok)).toEqual({});
    expect(validateWebhook({ ...ok, url: "http://127.0.0.1:9/x" })).toEqual({});
    expect(validateWebhook({ ...ok, url: "" }).url).toMatch(/Enter/);
    expect(validateWebhook({ ...ok, url: "example.com/hook" }).url).toMatch(/full URL/);
    expect(validateWebhook({ ...ok, url: "ftp://example.com/" }).url).toMatch(/https/);
    expect(validateWebhook({ ...ok, url: "https://u:p@example.com/" }).url).toMatch(/credentials/);
    expect(validateWebhook({ ...ok, url: "https://e.com/" + "a".repeat(2100) }).url).toMatch(/at most/);
    expect(validateWebhook({ ...ok, events: [] }).events).toMatch(/at least one/);
    expect(validateWebhook({ ...ok, events: ["webhook.test"] }).events).toMatch(/from the list/);
    expect(validateWebhook({ ...ok, description: "d".repeat(201) }).description).toMatch(/200/);
  });

  it("names only the fields an edit changed", () => {
    const before = draftOf({ url: "https://a.example/", events: ["feedback.created", "session.ended"], description: "x" });
    expect(updateMask(before, { ...before })).toEqual([]);
    expect(updateMask(before, { ...before, events: ["session.ended", "feedback.created"] })).toEqual([]);
    expect(updateMask(before, { url: "https://b.example/", events: ["session.ended"], description: "y" })).toEqual(["url", "events", "description"]);
  });

  it("toggles events in the list's order", () => {
    expect(toggleEvent(["site.no_data"], "session.ended", true)).toEqual(["session.ended", "site.no_data"]);
    expect(toggleEvent(["session.ended", "site.no_data"], "session.ended", false)).toEqual(["site.no_data"]);
    expect(toggleEvent(["session.ended"], "session.ended", true)).toEqual(["session.ended"]);
  });

  it("reads deliveries for the log", () => {
    expect(stateOf({ state: "DELIVERY_STATE_SUCCEEDED" })).toEqual({ label: "Succeeded", badge: "badge-ok" });
    expect(stateOf({ state: "DELIVERY_STATE_RETRYING" }).label).toBe("Retrying");
    expect(stateOf({}).label).toBe("Unknown");
    expect(inFlight({ state: "DELIVERY_STATE_PENDING" })).toBe(true);
    expect(inFlight({ state: "DELIVERY_STATE_FAILED" })).toBe(false);
    expect(statusText({ attempts: 0 })).toBe("–");
    expect(statusText({ attempts: 2, lastStatusCode: 500 })).toBe("500");
    expect(statusText({ attempts: 1 })).toBe("no answer");
    expect(prettyJson('{"a":1,"b":[2]}')).toBe('{\n  "a": 1,\n  "b": [\n    2\n  ]\n}');
    expect(prettyJson("not json")).toBe("not json");
    expect(prettyJson(undefined)).toBe("");
    expect(eventLabel("webhook.test")).toBe("Test event");
    expect(eventLabel("session.ended")).toBe("Session ended");
    expect(eventLabel("x.y")).toBe("x.y");
  });

  it("explains a webhook turned off for failing, not one a user turned off", () => {
    expect(failingBanner({ enabled: false, disabledReason: "failing", consecutiveFailures: 40 })).toMatch(/kept failing \(40 in a row\)/);
    expect(failingBanner({ enabled: false, disabledReason: "" })).toBeUndefined();
    expect(failingBanner({ enabled: true, disabledReason: "failing" })).toBeUndefined();
  });
});

describe("mail", () => {
  it("reads digest frequencies, never set as Off", () => {
    expect(frequencyOf(undefined)).toBe("DIGEST_FREQUENCY_OFF");
    expect(frequencyOf("DIGEST_FREQUENCY_UNSPECIFIED")).toBe("DIGEST_FREQUENCY_OFF");
    expect(frequencyOf("DIGEST_FREQUENCY_WEEKLY")).toBe("DIGEST_FREQUENCY_WEEKLY");
  });

  it("names outbox kinds", () => {
    expect(kindLabel("verify_email")).toBe("Verify e-mail");
    expect(kindLabel("new_kind")).toBe("new_kind");
    expect(kindLabel(undefined)).toBe("–");
  });

  it("says what unsubscribing turned off", () => {
    expect(unsubscribedText({ kind: "digest", siteId: "5", siteName: "Teapot shop" })).toBe("You will no longer get the digest for Teapot shop.");
    expect(unsubscribedText({ kind: "alert", siteId: "5", siteName: "" })).toBe("You will no longer get this alert for site 5.");
  });

  it("reads an unsubscribe link's token and refuses implausible ones", () => {
    expect(unsubscribeToken("?token=abc.def")).toBe("abc.def");
    expect(unsubscribeToken("?token=")).toBeUndefined();
    expect(unsubscribeToken("")).toBeUndefined();
    expect(unsubscribeToken("?token=a%20b")).toBeUndefined();
    expect(unsubscribeToken(`?token=${"a".repeat(1025)}`)).toBeUndefined();
  });

  it("maps e-mail links onto the dashboard's site routes", () => {
    expect(siteLinkTarget("1", "2", "settings/notifications", "")).toBe("/o/1/sites/2/settings/notifications");
    expect(siteLinkTarget("1", "2", "recordings", "?rage=1")).toBe("/o/1/sites/2/recordings?rage=1");
    expect(siteLinkTarget("1", "2", "", "")).toBe("/o/1/sites/2/recordings");
  });

  it("keeps only the path of alert links, and drops non-http ones", () => {
    expect(localLink("http://localhost:8080/sites/5/recordings?rage=1#x")).toBe("/sites/5/recordings?rage=1#x");
    expect(localLink("/sites/5/recordings")).toBe("/sites/5/recordings");
    expect(localLink("javascript:alert(1)")).toBeUndefined();
    expect(localLink("data:text/html,x")).toBeUndefined();
  });
});
