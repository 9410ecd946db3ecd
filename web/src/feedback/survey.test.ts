import { describe, expect, it } from "vitest";
import { emptySurvey, fromLocalInput, localInput, newQuestion, toSaveBody, withType, type Question } from "./survey";

describe("survey drafts", () => {
  it("give new questions and choices distinct temporary ids above stored ones", () => {
    const qs: Question[] = [{ id: 3 }, { id: 1_000_004 }];
    const q = newQuestion(qs, "QUESTION_TYPE_SINGLE_CHOICE");
    expect(q.id).toBe(1_000_005);
    expect(q.choices).toHaveLength(2);
    expect(new Set(q.choices!.map((c) => c.id)).size).toBe(2);
    expect(newQuestion([]).id).toBe(1_000_000);
  });

  it("keep on a type change only what still applies", () => {
    const nps: Question = { id: 1, type: "QUESTION_TYPE_NPS", lowLabel: "no", highLabel: "yes", skip: [{ minScore: 0, maxScore: 6, toQuestionId: 3 }] };
    const r5 = withType(nps, "QUESTION_TYPE_RATING_5");
    expect(r5.lowLabel).toBe("no");
    expect(r5.skip).toEqual([]); // 0–6 is outside 1–5
    expect(withType(nps, "QUESTION_TYPE_RATING_10").skip).toEqual([]); // 0 is outside 1–10
    const choice = withType(nps, "QUESTION_TYPE_MULTIPLE_CHOICE");
    expect(choice.choices).toHaveLength(2);
    expect(choice.lowLabel).toBeUndefined();
    expect(choice.skip).toEqual([]);
    const text = withType({ ...choice, skip: [{ choiceIds: [choice.choices![0]!.id!], toQuestionId: 0 }] }, "QUESTION_TYPE_LONG_TEXT");
    expect(text.choices).toBeUndefined();
    expect(text.skip).toEqual([]);
    const back = withType({ ...choice, skip: [{ choiceIds: [1], toQuestionId: 0 }] }, "QUESTION_TYPE_SINGLE_CHOICE");
    expect(back.skip).toEqual([{ choiceIds: [1], toQuestionId: 0 }]);
  });

  it("send trimmed texts without empty rules, attributes or fields of other types", () => {
    const s = emptySurvey();
    s.name = "  Checkout ";
    s.questions = [
      { id: 1_000_000, type: "QUESTION_TYPE_SHORT_TEXT", text: " Why? ", lowLabel: "x", choices: [{ id: 1, label: "a" }] },
      { id: 1_000_001, type: "QUESTION_TYPE_SINGLE_CHOICE", text: "Pick", choices: [{ id: 1, label: " a " }, { id: 2, label: "b" }], skip: [{ choiceIds: [2], toQuestionId: 0 }] },
    ];
    s.targeting = { pages: [{ operator: "OPERATOR_PREFIX", value: " /shop " }, { operator: "OPERATOR_EQUALS", value: " " }], attributes: [{ key: "", value: "x" }, { key: "plan", value: "pro" }] };
    const b = toSaveBody(s);
    expect(b.name).toBe("Checkout");
    expect(b.questions![0]).toEqual({ id: 1_000_000, type: "QUESTION_TYPE_SHORT_TEXT", text: "Why?", required: false });
    expect(b.questions![1]!.choices).toEqual([{ id: 1, label: "a" }, { id: 2, label: "b" }]);
    expect(b.questions![1]!.skip).toEqual([{ choiceIds: [2], toQuestionId: 0 }]);
    expect(b.targeting!.pages).toEqual([{ operator: "OPERATOR_PREFIX", value: "/shop" }]);
    expect(b.targeting!.attributes).toEqual([{ key: "plan", value: "pro" }]);
    expect(b.startTime).toBeUndefined();
  });

  it("read and write datetime-local values in the browser's zone", () => {
    const iso = "2026-12-01T09:30:00.000Z";
    expect(fromLocalInput(localInput(iso))).toBe(iso);
    expect(localInput(undefined)).toBe("");
    expect(localInput("nonsense")).toBe("");
    expect(fromLocalInput("")).toBeUndefined();
  });
});
