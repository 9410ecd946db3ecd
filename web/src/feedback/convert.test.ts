import { describe, expect, it } from "vitest";
import { answerLines, bootFeedback, bootSurvey, errorAt, fieldOfError, npsLabel, ratingLabel, type Survey } from "./convert";

const survey: Survey = {
  id: "3000000007",
  name: "Checkout",
  language: "de",
  thanks: "Danke",
  questions: [
    { id: 1, type: "QUESTION_TYPE_NPS", text: "How likely…?", required: true, lowLabel: "Not likely", highLabel: "Very likely", skip: [{ minScore: 9, maxScore: 10, toQuestionId: 3 }] },
    { id: 2, type: "QUESTION_TYPE_MULTIPLE_CHOICE", text: "What stopped you?", choices: [{ id: 1, label: "Price" }, { id: 2, label: "Shipping" }], skip: [{ choiceIds: [2], toQuestionId: 0 }] },
    { id: 3, type: "QUESTION_TYPE_LONG_TEXT", text: "Anything else?" },
    { id: 4, type: "QUESTION_TYPE_RATING_5", text: "Rate us" },
  ],
  targeting: {
    pages: [{ operator: "OPERATOR_PATTERN", value: "/checkout/*" }, { operator: "OPERATOR_UNSPECIFIED", value: "x" }],
    deviceTypes: ["DEVICE_TYPE_MOBILE", "DEVICE_TYPE_BOT"],
    visitors: "VISITORS_RETURNING",
    attributes: [{ key: "plan", value: "pro" }],
  },
  trigger: { kind: "KIND_SCROLL_PERCENT", scrollPercent: 50 },
  sampleRate: 0.25,
  oncePerVisitor: true,
  startTime: "2026-12-01T00:00:00Z",
};

describe("bootFeedback", () => {
  it("converts the widget settings to the bootstrap's JSON", () => {
    expect(
      bootFeedback({
        enabled: true,
        position: "POSITION_BOTTOM_LEFT",
        color: "#aa0000",
        language: "fr",
        tabLabel: "Avis",
        title: "T",
        commentPrompt: "P",
        thanks: "Merci",
        allowElement: true,
        pages: [{ operator: "OPERATOR_CONTAINS", value: "/blog" }],
      }),
    ).toEqual({
      position: "bottom-left",
      color: "#aa0000",
      language: "fr",
      texts: { tab: "Avis", title: "T", prompt: "P", thanks: "Merci" },
      element: true,
      pages: [{ op: "contains", value: "/blog" }],
    });
  });
  it("fills protojson's omitted defaults", () => {
    const b = bootFeedback({});
    expect(b.position).toBe("right");
    expect(b.color).toMatch(/^#[0-9a-f]{6}$/);
    expect(b).toMatchObject({ language: "", element: false, pages: [], texts: { tab: "", title: "", prompt: "", thanks: "" } });
  });
});

describe("bootSurvey", () => {
  it("converts a survey to the bootstrap's JSON", () => {
    const b = bootSurvey(survey);
    expect(b.id).toBe("3000000007");
    expect(b.questions.map((q) => q.type)).toEqual(["nps", "multiple", "long", "rating5"]);
    expect(b.questions[0]).toMatchObject({ required: true, low: "Not likely", high: "Very likely", skip: [{ choices: [], min: 9, max: 10, to: 3 }] });
    expect(b.questions[1]!.choices).toEqual([{ id: 1, label: "Price" }, { id: 2, label: "Shipping" }]);
    expect(b.questions[1]!.skip).toEqual([{ choices: [2], min: 0, max: 0, to: 0 }]);
    expect(b.target).toEqual({ pages: [{ op: "pattern", value: "/checkout/*" }], devices: ["mobile"], visitors: "returning", attrs: [{ k: "plan", v: "pro" }] });
    expect(b.trigger).toEqual({ kind: "scroll", seconds: 0, scroll: 50, event: "" });
    expect(b).toMatchObject({ sample: 0.25, once: true, start: Date.parse("2026-12-01T00:00:00Z"), end: null, language: "de", thanks: "Danke" });
  });
  it("numbers unsaved questions and choices distinctly, and samples everyone when unset", () => {
    const b = bootSurvey({ questions: [{ type: "QUESTION_TYPE_SINGLE_CHOICE", choices: [{ label: "a" }, { label: "b" }] }, { type: "QUESTION_TYPE_SHORT_TEXT" }] });
    expect(new Set(b.questions.map((q) => q.id)).size).toBe(2);
    expect(new Set(b.questions[0]!.choices.map((c) => c.id)).size).toBe(2);
    expect(b.sample).toBe(1);
    expect(b.trigger.kind).toBe("load");
  });
});

describe("answerLines", () => {
  it("resolves questions and choices from the definition, naming what it lost", () => {
    const lines = answerLines(
      {
        answers: [
          { questionId: 1, score: 0 },
          { questionId: 2, choiceIds: [2, 9] },
          { questionId: 3, text: "Too slow" },
          { questionId: 4, score: 4 },
          { questionId: 99, score: 3 },
        ],
      },
      survey,
    );
    expect(lines).toEqual([
      { question: "How likely…?", answer: "0 / 10" },
      { question: "What stopped you?", answer: "Shipping, choice 9" },
      { question: "Anything else?", answer: "Too slow" },
      { question: "Rate us", answer: "4 / 5" },
      { question: "Question 99", answer: "3" },
    ]);
    expect(answerLines({ answers: [{ questionId: 2, choiceIds: [1] }] }, undefined)).toEqual([{ question: "Question 2", answer: "choice 1" }]);
  });
});


describe("labels and errors", () => {
  it("names ratings and NPS", () => {
    expect(ratingLabel(1)).toBe("1 of 5 (Hate)");
    expect(ratingLabel(0)).toBe("No rating");
    expect(npsLabel(42.4)).toBe("+42");
    expect(npsLabel(-10)).toBe("-10");
    expect(npsLabel(0)).toBe("0");
    expect(npsLabel(undefined)).toBe("—");
  });
  it("finds the field a server's message names", () => {
    expect(fieldOfError("survey.questions[2].choices: want 2 to 20 choices, got 1")).toBe("questions[2].choices");
    expect(fieldOfError("survey.questions[0].skip[1].to_question_id 7 names no question of the survey")).toBe("questions[0].skip[1].toQuestionId");
    expect(fieldOfError("settings.feedback.tab_label is longer than 200 characters")).toBe("feedback.tabLabel");
    expect(fieldOfError("settings.feedback.color must be #rrggbb (e.g. #0a7cff)")).toBe("feedback.color");
    expect(fieldOfError("survey.end_time must be after survey.start_time")).toBe("endTime");
    expect(fieldOfError("survey is required")).toBeUndefined();
    expect(fieldOfError("something broke")).toBeUndefined();
    expect(fieldOfError(undefined)).toBeUndefined();
    expect(errorAt("questions[2].choices", "questions[2]")).toBe(true);
    expect(errorAt("questions[12].text", "questions[1]")).toBe(false);
    expect(errorAt("name", "name")).toBe(true);
  });
});
