import { fireEvent, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { LoadLevel, LoadTest } from "../api";
import { renderWithClient } from "../test/render";
import { LoadScreen } from "./LoadScreen";

const p = (p50: number) => ({ p50, p90: p50 * 1.2, p99: p50 * 1.5 });

function level(rate: number, attainment: number, saturated = false): LoadLevel {
  return {
    concurrency: null,
    rate,
    requests: 100,
    offered_rps: rate,
    achieved_rps: saturated ? rate * 0.8 : rate,
    output_tokens_per_s: rate * 16,
    input_tokens_mean: 64,
    output_tokens_mean: 16,
    ttft_ms: p(100 * rate),
    itl_ms: p(10),
    tpot_ms: p(12),
    e2e_ms: p(400 * rate),
    error_rate: 0,
    goodput_rps: rate * attainment,
    good_output_tokens_per_s: 0,
    slo_attainment: attainment,
    send_lag_p99_ms: 0.2,
    valid: true,
    saturated,
    saturation: saturated ? "achieved 1.60 of 2.00 requests/s offered (below 95 %)" : null,
    tokens_estimated: false,
  };
}

const test: LoadTest = {
  id: 4,
  label: "served at http://127.0.0.1:8080/v1",
  prompts_from: "32 synthetic prompts of 64 tokens",
  slo: { ttft_ms: 500, tpot_ms: null, e2e_ms: 4000 },
  levels: [level(0.5, 1), level(1, 1), level(2, 0.7, true)],
  knee: { level: 1, rps: 1, goodput_rps: 1, next_rps: 2, attainment: 1, attainment_low: 0.96, attainment_high: 1, reason: "the next level missed: 70.0 % of requests met the SLO" },
  capacity: null,
};

describe("LoadScreen", () => {
  it("shows the newest test's levels and knee, and plans capacity at the knee", async () => {
    const asked: unknown[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_load_tests":
          return [{ id: 4, created_ms: 0, label: test.label, levels: 3 }];
        case "load_test":
          return test;
        case "serving_status":
          return { url: "http://127.0.0.1:8080/v1", winner: "w.json", pid: 1 };
        case "plan_load_capacity":
          asked.push(args);
          return {
            mean_rps: 5.79,
            peak_rps: 17.36,
            per_replica_rps: 1,
            replicas: 18,
            machine_per_hour_usd: 0.08,
            machines_per_month_usd: 1051.2,
            requests_per_month: 15_208_333,
            hosted: { model: "openai:gpt-4o-mini", input_tokens_per_request: 64, output_tokens_per_request: 16, per_request_usd: 0.00002, per_month_usd: 304.17 },
          };
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    renderWithClient(<LoadScreen />);
    await waitFor(() => expect(screen.getAllByTestId("load-level")).toHaveLength(3));
    expect(screen.getByTestId("load-knee").textContent).toContain("Knee: 1.00 req/s");
    expect(screen.getAllByTestId("load-level")[1].className).toBe("knee");
    expect(screen.getAllByTestId("load-level")[2].textContent).toContain("saturated");
    await waitFor(() => expect((screen.getByLabelText("endpoint") as HTMLInputElement).value).toBe("http://127.0.0.1:8080/v1"));
    fireEvent.click(screen.getByTestId("plan-capacity"));
    await waitFor(() => expect(screen.getByTestId("capacity-plan").textContent).toContain("18 replicas"));
    expect(screen.getByTestId("capacity-plan").textContent).toContain("gpt-4o-mini instead");
    expect(asked[0]).toMatchObject({ id: 4, request: { daily: 500000, peak_factor: 3, hosted: "openai:gpt-4o-mini" } });
  });
});
