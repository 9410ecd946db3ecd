import { describe, expect, it } from "vitest";
import { SECTIONS, routedPages, visibleSections, type NavSection } from "./sections";

const labels = (v: ReturnType<typeof visibleSections>) => v.map((s) => [s.label, s.links.map((l) => l.label)]);

describe("visibleSections", () => {
  it("shows a member the pages that exist for the site and organisation, not planned ones", () => {
    const v = visibleSections({ operator: false, orgId: "o1", siteId: "s1" });
    expect(labels(v)).toEqual([
      ["Trends & funnels", ["Overview", "Realtime", "Funnels"]],
      ["Recordings", ["Recordings"]],
      ["Heatmaps", ["Heatmaps"]],
      ["Feedback & surveys", ["Responses", "Surveys"]],
      ["Settings", ["Site & install", "Feedback widget", "Notifications", "Webhooks"]],
      ["Organisation", ["Sites", "Team", "API keys"]],
    ]);
    expect(v[0]!.links.map((l) => l.href)).toEqual(["/o/o1/sites/s1/overview", "/o/o1/sites/s1/realtime", "/o/o1/sites/s1/funnels"]);
    v.shift();
    expect(v[0]!.links[0]).toEqual({ label: "Recordings", href: "/o/o1/sites/s1/recordings", prefix: true });
    expect(v[1]!.links[0]!.href).toBe("/o/o1/sites/s1/heatmaps");
    expect(v[2]!.links.map((l) => [l.href, l.prefix])).toEqual([
      ["/o/o1/sites/s1/feedback", false],
      ["/o/o1/sites/s1/surveys", true],
    ]);
    expect(v[3]!.links.slice(1).map((l) => l.href)).toEqual([
      "/o/o1/sites/s1/feedback-widget",
      "/o/o1/sites/s1/settings/notifications",
      "/o/o1/sites/s1/settings/webhooks",
    ]);
    expect(v[4]!.links[0]!.href).toBe("/o/o1/sites");
  });

  it("adds the Operator section only for operators", () => {
    const v = visibleSections({ operator: true, orgId: "o1", siteId: "s1" });
    expect(v.at(-1)).toEqual({
      id: "operator",
      label: "Operator",
      links: [
        { label: "Ingest & limits", href: "/operator", prefix: false },
        { label: "E-mail outbox", href: "/admin/outbox", prefix: false },
      ],
    });
  });

  it("drops site pages without a site and organisation pages without an organisation", () => {
    expect(labels(visibleSections({ operator: false, orgId: "o1" }))).toEqual([["Organisation", ["Sites", "Team", "API keys"]]]);
    expect(labels(visibleSections({ operator: true }))).toEqual([["Operator", ["Ingest & limits", "E-mail outbox"]]]);
  });

  it("escapes ids in links", () => {
    const v = visibleSections({ operator: false, orgId: "a/b", siteId: "c d" });
    expect(v[1]!.links[0]!.href).toBe("/o/a%2Fb/sites/c%20d/recordings");
  });

  it("treats a page as planned until it names its component", () => {
    const t: NavSection[] = [{ id: "x", label: "X", pages: [{ label: "Later", scope: "org", path: "o/:orgId/x", planned: "not yet" }] }];
    expect(visibleSections({ operator: true, orgId: "o" }, t)).toEqual([]);
    expect(routedPages(t)).toEqual([]);
  });
});

describe("SECTIONS", () => {
  it("says why each hidden page is hidden, and routes each shown one once", () => {
    for (const p of SECTIONS.flatMap((s) => s.pages)) {
      expect(!!p.page !== !!p.planned, `${p.label}: exactly one of page and planned`).toBe(true);
    }
    const paths = routedPages().map((p) => p.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toContain("operator");
  });
});
