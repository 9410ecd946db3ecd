// The recordings list's feedback filters ("has feedback", "rating ≤ N") in
// its URL state and SessionFilter (lib/filters.ts).
import { describe, expect, it } from "vitest";
import { activeFilterCount, emptyQuery, fromSearchParams, toFilter, toSearchParams } from "../lib/filters";

const now = new Date("2026-11-30T12:00:00Z");

describe("recordings feedback filters", () => {
  it("round-trip through the URL and map onto has_feedback and feedback_rating {max}", () => {
    const q = fromSearchParams(new URLSearchParams("range=all&feedback=1&rating_max=2"));
    expect(q.hasFeedback).toBe(true);
    expect(q.feedbackRatingMax).toBe(2);
    expect(activeFilterCount(q)).toBe(3);
    expect(fromSearchParams(toSearchParams(q))).toEqual(q);
    expect(toFilter(q, now)).toEqual({ hasFeedback: true, feedbackRating: { max: "2" } });
    expect(toFilter(fromSearchParams(new URLSearchParams("range=all&feedback=0")), now)).toEqual({ hasFeedback: false });
  });

  it("ignore ratings outside 1–5", () => {
    for (const v of ["0", "6", "2.5", "-1", "x", ""]) {
      expect(fromSearchParams(new URLSearchParams(`rating_max=${v}`)).feedbackRatingMax, v).toBeUndefined();
    }
    expect(toSearchParams(emptyQuery()).has("rating_max")).toBe(false);
  });
});
