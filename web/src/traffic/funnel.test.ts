import { describe, expect, it } from "vitest";
import { fromApiSteps, move, newStep, stepProblems, stepTitle, toApiSteps } from "./funnel";

describe("funnel steps", () => {
  it("map onto FunnelStep and back", () => {
    const steps = [
      newStep({ op: "equals", value: " /pricing ", label: "Pricing" }),
      newStep({ op: "prefix", value: "https://shop.example/checkout" }),
      newStep({ kind: "event", value: "signup" }),
    ];
    const api = toApiSteps(steps);
    expect(api).toEqual([
      { label: "Pricing", page: { operator: "OPERATOR_EQUALS", value: "/pricing" } },
      { page: { operator: "OPERATOR_PREFIX", value: "https://shop.example/checkout" } },
      { event: "signup" },
    ]);
    expect(toApiSteps(fromApiSteps(api))).toEqual(api);
    expect(stepTitle(api[0]!)).toBe("Pricing");
    expect(stepTitle(api[1]!)).toBe("Page starts with https://shop.example/checkout");
    expect(stepTitle(api[2]!)).toBe("Event “signup”");
  });

  it("are checked like the server checks them", () => {
    expect(stepProblems([newStep({ value: "/a" })])).toEqual(["A funnel needs at least 2 steps."]);
    expect(stepProblems(Array.from({ length: 9 }, () => newStep({ value: "/a" })))).toEqual(["A funnel has at most 8 steps."]);
    expect(stepProblems([newStep({ value: "/a" }), newStep({ kind: "event", value: "" })])).toEqual(["Step 2: name the event."]);
    expect(stepProblems([newStep({ value: "/a" }), newStep({ kind: "event", value: "x".repeat(101) })])).toEqual(["Step 2: event names are at most 100 characters."]);
    expect(stepProblems([newStep({ value: "/a", label: "l".repeat(101) }), newStep({ value: "/b" })])).toEqual(["Step 1: labels are at most 100 characters."]);
    expect(stepProblems([newStep({ value: "/a" }), newStep({ value: "/b" })])).toEqual([]);
  });

  it("move within bounds only", () => {
    expect(move([1, 2, 3], 0, 1)).toEqual([2, 1, 3]);
    expect(move([1, 2, 3], 2, -1)).toEqual([1, 3, 2]);
    expect(move([1, 2, 3], 0, -1)).toEqual([1, 2, 3]);
    expect(move([1, 2, 3], 2, 1)).toEqual([1, 2, 3]);
  });
});
