import { describe, expect, it } from "vitest";
import { nextProgress } from "./RunProgress";

const label = (i: number) => `config ${i}`;

describe("nextProgress", () => {
  it("follows an experiment from start to its last run", () => {
    let p = nextProgress(null, { kind: "started", experiment_id: 3, total: 4 }, label, String);
    expect(p?.total).toBe(4);
    p = nextProgress(p, { kind: "running", done: 1, total: 4, config: 2, case: 0, repetition: 1, text: "Ber" }, label, String);
    expect(p?.label).toBe("config 2 · case 0 · rep 2");
    expect(p?.text).toBe("Ber");
    p = nextProgress(p, { kind: "run_finished", done: 2, total: 4, config: 2, case: 0, repetition: 1, output: "Berlin" }, label, String);
    expect(p?.done).toBe(2);
    expect(p?.eta).not.toBeNull();
    expect(nextProgress(p, { kind: "finished", experiment_id: 3, status: "completed" }, label, String)).toBeNull();
  });
});
