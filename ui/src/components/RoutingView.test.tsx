import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { Routing, RoutingOutcome } from "../api";
import { results } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { RoutingView } from "./RoutingView";

const estimate = (value: number) => ({ value, low: value * 0.9, high: Math.min(1, value * 1.1) });

function outcome(id: string, kind: string, pass: number, cost: number, stages: string[] = [id]): RoutingOutcome {
  return {
    id,
    kind,
    pass_rate: estimate(pass),
    cost_per_1k_usd: estimate(cost),
    latency_p50_ms: estimate(300),
    latency_p95_ms: estimate(400),
    ttft_p50_ms: estimate(120),
    ttft_p95_ms: estimate(150),
    stages: stages.map((stage, i) => ({ stage, answered: i === 0 ? 3 : 1, share: i === 0 ? 0.75 : 0.25 })),
  } as RoutingOutcome;
}

function report(policies: RoutingOutcome[]): Routing {
  return {
    experiment_id: 1,
    requests: 4,
    policies,
    configs: [outcome("fewshot · gemma · n_ctx 512", "config", 1, 0.008), outcome("bare · gemma · n_ctx 512", "config", 0.5, 0.004)],
  } as Routing;
}

describe("RoutingView", () => {
  it("simulates the cascade built from configs and conditions, beside every config alone", async () => {
    const asked: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "simulate_routing") throw new Error(`unexpected command ${cmd}`);
      const extra = (args as { extra: string }).extra;
      asked.push(extra);
      return extra === "" ? report([]) : report([outcome("small-first", "cascade", 1, 0.005, ["bare · gemma · n_ctx 512", "fewshot · gemma · n_ctx 512"])]);
    });
    renderWithClient(<RoutingView results={results(2)} />);
    await waitFor(() => expect(screen.getAllByTestId("routing-row")).toHaveLength(2));
    expect(asked).toEqual([""]);

    fireEvent.change(screen.getByLabelText("policy id"), { target: { value: "small-first" } });
    fireEvent.change(screen.getByLabelText("stage 1 config"), { target: { value: "1" } });
    fireEvent.change(screen.getByLabelText("stage 2 config"), { target: { value: "0" } });
    fireEvent.change(screen.getByLabelText("stage 1 confidence below"), { target: { value: "-0.35" } });
    fireEvent.click(screen.getByTestId("simulate-routing"));
    await waitFor(() => expect(screen.getAllByTestId("routing-row")).toHaveLength(3));
    const sent = JSON.parse(asked[1]);
    // A local config is named by its settings too, which pick it out of its target's sweep.
    const settings = { n_ctx: 512, threads: 2, batch: 2048, kv_type: "f16", n_gpu_layers: 0, parallel: 1, prefix_cache: false };
    expect(sent).toEqual([
      {
        id: "small-first",
        cascade: [
          { variant: "bare", target: "gemma", settings, escalate_when: ["error", { check: "json_valid" }, { confidence_below: -0.35 }] },
          { variant: "fewshot", target: "gemma", settings },
        ],
      },
    ]);
    const built = screen.getAllByTestId("routing-row")[0];
    expect(built.className).toBe("built");
    expect(within(built).getByText("100% [90%–100%]")).toBeTruthy();
    expect(built.textContent).toContain("bare · gemma · n_ctx 512: 75%");
  });

  it("shows a refused cascade's reason where Simulate was pressed, and exports a valid one as a policy file", async () => {
    const exported: unknown[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "simulate_routing":
          if ((args as { extra: string }).extra !== "") {
            throw {
              code: "bad_input",
              message: "the routing view: policies[0].cascade[0].escalate_when[0]: `confidence_below` is a log-probability: a number ≤ 0",
              details: null,
              field: { path: "policies[0].cascade[0].escalate_when[0]", message: "is a log-probability" },
            };
          }
          return report([]);
        case "default_policy_path":
          return "/data/exports/experiment-1-policies.yaml";
        case "export_policies":
          exported.push(args);
          return (args as { path: string }).path;
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    renderWithClient(<RoutingView results={results(2)} />);
    await screen.findAllByTestId("routing-row");
    fireEvent.change(screen.getByLabelText("stage 1 confidence below"), { target: { value: "0.5" } });
    fireEvent.click(screen.getByTestId("simulate-routing"));
    expect((await screen.findByTestId("routing-error")).textContent).toContain("escalate_when[0]");

    fireEvent.click(screen.getByTestId("export-policy"));
    expect((await screen.findByTestId("routing-note")).textContent).toContain("--policy /data/exports/experiment-1-policies.yaml");
    expect(exported).toHaveLength(1);
    expect(JSON.parse((exported[0] as { policies: string }).policies)[0].id).toBe("my-cascade");
  });

  it("says why an export was refused, next to the buttons", async () => {
    mockIPC((cmd) => {
      switch (cmd) {
        case "simulate_routing":
          return report([]);
        case "default_policy_path":
          return "/data/exports/experiment-1-policies.yaml";
        case "export_policies":
          throw { code: "not_allowed", message: "/etc/policies.yaml is outside the data folder: choose where to save with “Export to…”", details: null };
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    renderWithClient(<RoutingView results={results(2)} />);
    await screen.findAllByTestId("routing-row");
    fireEvent.click(screen.getByTestId("export-policy"));
    expect((await screen.findByTestId("export-error")).textContent).toContain("outside the data folder");
    expect(screen.queryByTestId("routing-note")).toBeNull();
  });

  it("simulates nothing while hidden and keeps the cascade being built when shown again", async () => {
    const asked: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "simulate_routing") throw new Error(`unexpected command ${cmd}`);
      asked.push((args as { extra: string }).extra);
      return report([]);
    });
    const view = renderWithClient(<RoutingView results={results(2)} active={false} />);
    fireEvent.change(screen.getByLabelText("policy id"), { target: { value: "kept" } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(asked).toEqual([]);
    view.rerender(<RoutingView results={results(2)} active />);
    await waitFor(() => expect(asked).toEqual([""]));
    expect((screen.getByLabelText("policy id") as HTMLInputElement).value).toBe("kept");
  });
});
