import { describe, expect, it } from "vitest";
import { activeCount, csvParams, emptyResponsesQuery, fromParams, npsGroupOf, statsInterval, toFilter, toParams } from "./query";

const now = new Date("2026-11-30T12:00:00Z");

describe("responses query ↔ URL", () => {
  it("round-trips every condition and leaves defaults out", () => {
    const p = new URLSearchParams(
      "range=custom&from=2026-11-01&to=2026-11-07&kind=survey&survey=3000000001&survey=3000000002&rating_min=1&rating_max=2&nps=detractor&nps=promoter&page_op=prefix&page=https%3A%2F%2Fshop.example%2Fcart&device=mobile&has_text=1",
    );
    const q = fromParams(p);
    expect(q).toEqual({
      range: "custom",
      from: "2026-11-01",
      to: "2026-11-07",
      kind: "survey",
      surveys: ["3000000001", "3000000002"],
      ratingMin: 1,
      ratingMax: 2,
      nps: ["detractor", "promoter"],
      page: { op: "prefix", value: "https://shop.example/cart" },
      devices: ["mobile"],
      hasText: true,
    });
    expect(fromParams(toParams(q))).toEqual(q);
    expect(activeCount(q)).toBe(11);
    expect(toParams(emptyResponsesQuery()).toString()).toBe("");
  });

  it("ignores what it cannot understand", () => {
    const q = fromParams(new URLSearchParams("range=1y&kind=spam&survey=0&survey=abc&survey=-1&rating_min=9&rating_max=0&nps=haters&page_op=regex&page=x&device=toaster&has_text=maybe&from=2026-11-01"));
    expect(q).toEqual(emptyResponsesQuery());
    expect(fromParams(new URLSearchParams(`page=${"x".repeat(2049)}`)).page).toBeUndefined();
    expect(fromParams(new URLSearchParams("has_text=0")).hasText).toBe(false);
  });
});

describe("toFilter", () => {
  it("maps the state onto AnswerFilter", () => {
    const q = fromParams(new URLSearchParams("kind=feedback&rating_max=2&nps=passive&page=/pricing&device=desktop&device=tablet&has_text=0&survey=42"));
    expect(toFilter(q, now)).toEqual({
      time: { start: "2026-10-31T12:00:00.000Z" },
      kind: "ANSWER_KIND_FEEDBACK",
      surveyIds: ["42"],
      rating: { max: "2" },
      npsGroups: ["NPS_GROUP_PASSIVE"],
      page: { operator: "OPERATOR_EQUALS", value: "/pricing" },
      deviceTypes: ["DEVICE_TYPE_DESKTOP", "DEVICE_TYPE_TABLET"],
      hasText: false,
    });
    expect(toFilter(fromParams(new URLSearchParams("range=all")), now)).toEqual({});
  });
});

describe("csvParams", () => {
  it("names the filter as the export documents it, times in RFC 3339", () => {
    const q = fromParams(new URLSearchParams("range=7d&kind=survey&survey=7&rating_min=4&nps=promoter&page_op=pattern&page=/p/*&device=mobile&has_text=1"));
    const p = csvParams(q, now);
    expect([...p.entries()]).toEqual([
      ["from", "2026-11-23T12:00:00.000Z"],
      ["kind", "survey"],
      ["survey", "7"],
      ["rating_min", "4"],
      ["nps", "promoter"],
      ["page_op", "pattern"],
      ["page", "/p/*"],
      ["device", "mobile"],
      ["has_text", "1"],
    ]);
    const custom = csvParams(fromParams(new URLSearchParams("range=custom&from=2026-11-01&to=2026-11-01")), now);
    expect(Date.parse(custom.get("to")!) - Date.parse(custom.get("from")!)).toBe(86_400_000);
  });
});

describe("statsInterval and NPS groups", () => {
  it("keeps charts readable", () => {
    expect(statsInterval(fromParams(new URLSearchParams("range=30d")), now)).toBe("STATS_INTERVAL_DAY");
    expect(statsInterval(fromParams(new URLSearchParams("range=90d")), now)).toBe("STATS_INTERVAL_WEEK");
    expect(statsInterval(fromParams(new URLSearchParams("range=all")), now)).toBe("STATS_INTERVAL_MONTH");
  });
  it("groups scores as NPS does", () => {
    expect([0, 6, 7, 8, 9, 10].map(npsGroupOf)).toEqual(["detractor", "detractor", "passive", "passive", "promoter", "promoter"]);
  });
});
