import { screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { ExperimentHistory } from "../api";
import { renderWithClient } from "../test/render";
import { HistoryView } from "./HistoryView";

function point(id: number, p50: number, change: ExperimentHistory["configs"][number]["points"][number]["change"] = null) {
  return { experiment_id: id, runs: 8, pass_rate: 1, latency_p50_ms: p50, latency_p95_ms: p50 + 10, cost_per_run_usd: 0.00001, change };
}

function history(entries: number): ExperimentHistory {
  const change = (regressions: string[]) => ({
    since_experiment_id: 1,
    latency_p50_ms: { estimate: 75, low: 70, high: 80 },
    pass_rate: null,
    cost_per_run_usd: null,
    regressions,
    improvements: [],
  });
  return {
    name: "api-drift",
    source: "/work/api.yaml",
    entries: Array.from({ length: entries }, (_, i) => ({
      experiment_id: i + 1,
      created_at: `2026-12-0${i + 1}T10:00:00.123Z`,
      status: "completed",
      llama_build: null,
      changed: i === 0 ? [] : ["target `drifting`: another model file (sha256 aaa → bbb)"],
    })),
    configs: [
      { variant: "v", target: "steady", settings: null, label: "v · steady · —", points: entries === 1 ? [point(1, 15)] : [point(1, 15), point(2, 16, change([]))] },
      {
        variant: "v",
        target: "drifting",
        settings: null,
        label: "v · drifting · —",
        points: entries === 1 ? [point(1, 15)] : [point(1, 15), point(2, 90, change(["p50 latency +75 ms, +500 % (95 % interval +70 to +80 ms)"]))],
      },
    ],
  } as ExperimentHistory;
}

describe("HistoryView", () => {
  it("calls out the config that regressed since the file's previous run, and only that one", async () => {
    mockIPC((cmd) => {
      if (cmd !== "experiment_history") throw new Error(`unexpected command ${cmd}`);
      return history(2);
    });
    renderWithClient(<HistoryView experimentId={2} />);
    await waitFor(() => expect(screen.getAllByTestId("history-row")).toHaveLength(4));
    expect(screen.getByTestId("history-verdict").textContent).toBe("1 regressions established");
    const regressions = screen.getAllByTestId("regression");
    expect(regressions).toHaveLength(1);
    expect(regressions[0].textContent).toContain("p50 latency +75 ms");
    expect(regressions[0].closest("tr")?.textContent).toContain("#2");
    expect(screen.getByText(/another model file/)).toBeTruthy();
  });

  it("says how to get a history when the file was run once", async () => {
    mockIPC(() => history(1));
    renderWithClient(<HistoryView experimentId={1} />);
    await waitFor(() => expect(screen.getByTestId("history-alone").textContent).toContain("only recorded run of /work/api.yaml"));
  });
});
