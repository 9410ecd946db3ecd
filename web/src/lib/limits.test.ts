import { describe, expect, it } from "vitest";
import { draftOf, hasLimits, limitsOf, limitsSummary, limitText, retentionCeiling, retentionNote } from "./limits";

describe("limits wording", () => {
  it("says nothing at sign-up when the operator set no limit", () => {
    expect(limitsSummary(undefined)).toBeNull();
    expect(limitsSummary({})).toBeNull();
    expect(limitsSummary({ sessionsPerDay: "0", maxRetentionDays: 0, maxSeats: 0, maxSites: 0 })).toBeNull();
    expect(hasLimits({ maxSites: 2 })).toBe(true);
  });

  it("names the instance, never a plan, unless the operator gave a label", () => {
    const s = limitsSummary({ sessionsPerDay: "1000", maxRetentionDays: 30, maxSites: 1 });
    expect(s).toBe("This instance allows up to 1,000 recorded sessions a day per site, recordings kept up to 30 days, 1 site.");
    expect(s).not.toMatch(/plan/i);
    expect(limitsSummary({ name: "Hosted Pro", maxSeats: 5 })).toBe("Hosted Pro: up to 5 members per organisation.");
  });

  it("explains the retention ceiling by who set it", () => {
    expect(retentionNote({ maxRetentionDays: 90 }, false)).toBe("this instance allows up to 90 days");
    expect(retentionNote({ maxRetentionDays: 7 }, true)).toBe("up to 7 days: a limit set by the operator");
    expect(retentionNote({}, true)).toBeNull();
    expect(retentionCeiling({})).toBe(3650);
    expect(retentionCeiling({ maxRetentionDays: 14 })).toBe(14);
    expect(limitText("0")).toBe("unlimited");
    expect(limitText("25000")).toBe("25,000");
  });

  it("parses the edit form: empty is unlimited, junk is refused by field", () => {
    const d = draftOf({ name: "Pro", sessionsPerDay: "500", maxRetentionDays: 0, maxSeats: 3 });
    expect(d).toEqual({ name: "Pro", sessionsPerDay: "500", maxRetentionDays: "", maxSeats: "3", maxSites: "" });
    expect(limitsOf(d)).toEqual({ limits: { name: "Pro", sessionsPerDay: "500", maxRetentionDays: 0, maxSeats: 3, maxSites: 0 } });
    expect(limitsOf({ ...d, maxSites: "-1" })).toEqual({ error: expect.stringContaining("Sites per organisation") });
    expect(limitsOf({ ...d, maxRetentionDays: "3651" })).toEqual({ error: expect.stringContaining("Longest retention") });
    expect(limitsOf({ ...d, sessionsPerDay: "1e3" })).toEqual({ error: expect.stringContaining("Sessions a day") });
    expect(limitsOf({ ...d, name: "x".repeat(65) })).toEqual({ error: "Label: at most 64 characters" });
  });
});
