import { describe, expect, it } from "vitest";
import { captureAssets, selectorLines, timeZones, updateMask } from "./settings";

describe("settings update mask", () => {
  it("is empty when nothing changed, whatever protojson left out", () => {
    expect(updateMask({ sampleRate: 1, recordingEnabled: true }, { sampleRate: 1, recordingEnabled: true, maskSelectors: [], maskAllText: false, retentionDays: 0 })).toBe("");
  });
  it("names exactly the changed fields in FieldMask JSON form", () => {
    expect(
      updateMask(
        { sampleRate: 1, recordingEnabled: true, maskSelectors: [".a"], retentionDays: 30 },
        { sampleRate: 0.5, recordingEnabled: false, maskSelectors: [".a", ".b"], retentionDays: 30, requireConsent: true },
      ),
    ).toBe("recordingEnabled,sampleRate,maskSelectors,requireConsent");
  });
  it("sees a cleared list and a switched-off flag", () => {
    expect(updateMask({ blockSelectors: ["#x"], respectDoNotTrack: true }, { blockSelectors: [], respectDoNotTrack: false })).toBe(
      "blockSelectors,respectDoNotTrack",
    );
  });
  it("treats an unset asset-capture switch as on", () => {
    expect(updateMask({}, { captureAssets: true })).toBe("");
    expect(updateMask({}, { captureAssets: false })).toBe("captureAssets");
    expect(updateMask({ captureAssets: false }, { captureAssets: true, recordCanvas: true })).toBe("captureAssets,recordCanvas");
    expect(captureAssets({})).toBe(true);
    expect(captureAssets({ captureAssets: false })).toBe(false);
  });
  it("sees the cold age set and set back to never (0, which protojson leaves out)", () => {
    expect(updateMask({ retentionDays: 30 }, { retentionDays: 30, coldAfterDays: 7 })).toBe("coldAfterDays");
    expect(updateMask({ coldAfterDays: 7 }, { coldAfterDays: 0 })).toBe("coldAfterDays");
    expect(updateMask({}, { coldAfterDays: 0 })).toBe("");
  });
  it("reads selectors one a line", () => {
    expect(selectorLines(" .a \n\n#b\r\n  ")).toEqual([".a", "#b"]);
  });
});

describe("time zones", () => {
  it("lists UTC first and keeps an unknown current zone", () => {
    expect(timeZones(undefined, () => ["Europe/Berlin", "UTC", "America/New_York"])).toEqual(["UTC", "America/New_York", "Europe/Berlin"]);
    expect(timeZones("Mars/Olympus", () => ["Europe/Berlin"])).toEqual(["UTC", "Europe/Berlin", "Mars/Olympus"]);
    expect(updateMask({}, { timeZone: "Europe/Berlin" })).toBe("timeZone");
    expect(updateMask({ timeZone: "Europe/Berlin" }, { timeZone: "Europe/Berlin" })).toBe("");
  });
});
