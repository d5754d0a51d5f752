import { fireEvent, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { Monitor } from "../api";
import { renderWithClient } from "../test/render";
import { MonitorScreen } from "./MonitorScreen";

const point = (minute: number, requests: number) => ({
  at_ms: 1_796_000_000_000 + minute * 60_000,
  requests,
  error_rate: requests ? 0 : null,
  latency_p50_ms: requests ? 380 : null,
  latency_p95_ms: requests ? 410 : null,
  ttft_p50_ms: requests ? 150 : null,
  ttft_p95_ms: requests ? 160 : null,
  itl_p50_ms: requests ? 16 : null,
  input_tokens_mean: requests ? 92 : null,
  output_tokens_mean: requests ? 16 : null,
  cost_per_hour_usd: requests ? 0.02 : null,
  canary_pass_rate: minute === 2 ? 1 : null,
});

const view: Monitor = {
  deployments: [
    { id: 2, label: "fewshot · q4 · n_ctx 512", model: "fewshot@q4", winner_path: "/w.json", started_ms: 1_796_000_000_000 },
    { id: 1, label: "bare · q4 · n_ctx 512", model: "bare@q4", winner_path: "/old.json", started_ms: 1_795_000_000_000 },
  ],
  deployment: 2,
  points: [point(0, 3), point(1, 0), point(2, 5)],
  measured: { latency_p50_ms: 332, latency_p95_ms: 359, ttft_p50_ms: 140, ttft_p95_ms: 150, pass_rate_low: 0.68, pass_rate_high: 1 },
};

describe("MonitorScreen", () => {
  it("shows the newest deployment's traffic against the winner as measured, and switches deployment and window", async () => {
    const asked: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "monitor") throw new Error(cmd);
      asked.push(args);
      return view;
    });
    renderWithClient(<MonitorScreen />);
    expect((await screen.findByTestId("monitor-summary")).textContent).toContain("8 requests in the last 1 h");
    expect(screen.getByTestId("monitor-summary").textContent).toContain("latency p50–p95 332–359 ms");
    expect(screen.getAllByTestId("monitor-chart")).toHaveLength(6);
    expect(asked[0]).toMatchObject({ deployment: null, window: "hour" });

    fireEvent.click(screen.getByText("7 d"));
    await waitFor(() => expect(asked.some((a) => (a as { window: string }).window === "week")).toBe(true));
    fireEvent.change(screen.getByLabelText("deployment"), { target: { value: "1" } });
    await waitFor(() => expect(asked.some((a) => (a as { deployment: number | null }).deployment === 1)).toBe(true));
  });

  it("says how to get traffic when nothing has been served", async () => {
    mockIPC(() => ({ deployments: [], deployment: null, points: [], measured: {} }));
    renderWithClient(<MonitorScreen />);
    expect((await screen.findByTestId("monitor-empty")).textContent).toContain("tradeoff serve winner.json");
  });
});
