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

  it("keeps every config a race dropped, with its round and why, as the rounds come in", () => {
    let p = nextProgress(null, { kind: "started", experiment_id: 1, total: 120 }, label, String);
    const drop = (config: number, round: number) => ({ config, round, reason: "pass rate ≤ 0.1", cases_run: 4 * round });
    p = nextProgress(p, { kind: "search_round", round: 1, alive: [0, 1], eliminated: [drop(2, 1)], runs_used: 12, runs_grid: 120 }, label, String);
    p = nextProgress(p, { kind: "search_round", round: 2, alive: [0], eliminated: [drop(1, 2)], runs_used: 20, runs_grid: 120 }, label, String);
    expect(p?.race).toEqual({
      round: 2,
      alive: 1,
      runsUsed: 20,
      runsGrid: 120,
      dropped: [
        { label: "config 2", round: 1, reason: "pass rate ≤ 0.1" },
        { label: "config 1", round: 2, reason: "pass rate ≤ 0.1" },
      ],
    });
  });
});
