import { fireEvent, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { Winner } from "../api";
import { WinnerCard } from "./WinnerCard";
import { renderWithClient } from "../test/render";

const winner: Winner = {
  objective: "pass_rate >= 0.9; then cheapest, fastest",
  kind: "config",
  label: "fewshot · gemma · n_ctx 512",
  runs: 8,
  stages: [],
  pass_rate: 1,
  latency_p95_ms: 412.3,
  cost_per_1k_usd: 0.0091,
  runner_up: {
    label: "fewshot · gemma · n_ctx 2048",
    latency: { estimate_ms: -63, low_ms: -147, high_ms: 5, verdict: "no_clear_difference" },
    pass_rate_margin: 0,
    cost_per_run_margin_usd: -0.0000012,
  },
  excluded: [{ label: "bare · gemma · n_ctx 512", reason: "pass_rate 0.25 < 0.9" }],
  pareto_front: ["fewshot · gemma · n_ctx 512"],
};

describe("WinnerCard", () => {
  it("shows the winner with the runner-up's margin and interval, and exports the winner file", async () => {
    const calls: { cmd: string; args: unknown }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      switch (cmd) {
        case "default_export_path":
          return "/data/exports/experiment-3-winner.json";
        case "serving_status":
          return null;
        case "winner":
          if ((args as { objective: string }).objective === "{bad") {
            throw { code: "bad_input", message: "objective: key must be a string at line 1 column 2", details: null };
          }
          return winner;
        case "export_winner":
          return (args as { path: string }).path;
        default:
          throw new Error(cmd);
      }
    });
    renderWithClient(<WinnerCard experimentId={3} />);
    fireEvent.change(screen.getByLabelText("winner objective"), { target: { value: "{bad" } });
    fireEvent.click(screen.getByTestId("decide"));
    expect((await screen.findByRole("alert")).textContent).toContain("objective: key must be a string");

    fireEvent.change(screen.getByLabelText("winner objective"), { target: { value: "" } });
    fireEvent.click(screen.getByTestId("decide"));
    expect((await screen.findByTestId("winner-label")).textContent).toBe("fewshot · gemma · n_ctx 512");
    const card = screen.getByTestId("winner").textContent ?? "";
    expect(card).toContain("pass rate 100%");
    expect(card).toContain("[-147, 5]");
    expect(card).toContain("no clear difference");
    expect(card).toContain("excluded bare · gemma · n_ctx 512: pass_rate 0.25 < 0.9");

    await waitFor(() => expect((screen.getByLabelText("winner file") as HTMLInputElement).value).toBe("/data/exports/experiment-3-winner.json"));
    fireEvent.click(screen.getByTestId("export-winner"));
    expect(await screen.findByText("Wrote /data/exports/experiment-3-winner.json")).toBeTruthy();
    expect(calls.find((c) => c.cmd === "export_winner")?.args).toMatchObject({ experimentId: 3, objective: "", path: "/data/exports/experiment-3-winner.json" });
  });

  it("writes outside the data folder only where the user chose in the save dialog, and shows a refusal", async () => {
    const calls: { cmd: string; args: unknown }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      switch (cmd) {
        case "default_export_path":
          return "/data/exports/experiment-3-winner.json";
        case "serving_status":
          return null;
        case "winner":
          return winner;
        case "pick_save_path":
          return "/home/me/deploy/winner.json";
        case "export_winner": {
          const path = (args as { path: string }).path;
          if (path.startsWith("/data/") || path === "/home/me/deploy/winner.json") return path;
          throw { code: "not_allowed", message: `${path} is outside the data folder: choose where to save with “Choose…”`, details: null };
        }
        default:
          throw new Error(cmd);
      }
    });
    renderWithClient(<WinnerCard experimentId={3} />);
    fireEvent.click(screen.getByTestId("decide"));
    await screen.findByTestId("winner-label");
    await waitFor(() => expect((screen.getByLabelText("winner file") as HTMLInputElement).value).toBe("/data/exports/experiment-3-winner.json"));

    fireEvent.change(screen.getByLabelText("winner file"), { target: { value: "/etc/winner.json" } });
    fireEvent.click(screen.getByTestId("export-winner"));
    expect((await screen.findByRole("alert")).textContent).toContain("outside the data folder");

    fireEvent.click(screen.getByTestId("choose-winner-file"));
    await waitFor(() => expect((screen.getByLabelText("winner file") as HTMLInputElement).value).toBe("/home/me/deploy/winner.json"));
    expect(calls.find((c) => c.cmd === "pick_save_path")?.args).toMatchObject({ suggested: "/etc/winner.json" });
    fireEvent.click(screen.getByTestId("export-winner"));
    expect(await screen.findByText("Wrote /home/me/deploy/winner.json")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows a routing policy that won with its stages and says its figures are simulated", async () => {
    const policy: Winner = {
      ...winner,
      kind: "policy",
      label: "cascade rule-then-fewshot",
      runs: 16,
      stages: ["rule on sentence answered 50%", "fewshot · gemma · n_ctx 512 answered 50%"],
      cost_per_1k_usd: 0.0039,
      runner_up: { ...winner.runner_up!, label: "fewshot · gemma · n_ctx 512" },
    };
    mockIPC((cmd) => {
      switch (cmd) {
        case "default_export_path":
          return "/data/exports/experiment-3-winner.json";
        case "serving_status":
          return null;
        case "winner":
          return policy;
        default:
          throw new Error(cmd);
      }
    });
    renderWithClient(<WinnerCard experimentId={3} />);
    fireEvent.click(screen.getByTestId("decide"));
    expect((await screen.findByTestId("winner-label")).textContent).toBe("cascade rule-then-fewshot");
    const card = screen.getByTestId("winner").textContent ?? "";
    expect(card).toContain("simulated on 16 recorded requests");
    expect(card).not.toContain("16 runs");
    const stages = [...screen.getByTestId("winner-stages").querySelectorAll("li")].map((li) => li.textContent);
    expect(stages).toEqual(["rule on sentence answered 50%", "fewshot · gemma · n_ctx 512 answered 50%"]);
    expect(card).toContain("Runner-up: fewshot · gemma · n_ctx 512");
  });

  it("serves the winner, says where, and stops it; a winner that cannot be served says why", async () => {
    const calls: string[] = [];
    let refuse = false;
    mockIPC((cmd) => {
      calls.push(cmd);
      switch (cmd) {
        case "default_export_path":
          return "/data/exports/experiment-3-winner.json";
        case "serving_status":
          return null;
        case "winner":
          return winner;
        case "serve_winner":
          if (refuse) {
            throw { code: "executor", message: "the winner runs on OpenAI-compatible (gpt-4o-mini); `tradeoff serve` serves local models so far", details: null };
          }
          return { url: "http://127.0.0.1:40123/v1", winner: "/data/exports/experiment-3-served-winner.json", pid: 4242 };
        case "stop_serving":
          return null;
        default:
          throw new Error(cmd);
      }
    });
    renderWithClient(<WinnerCard experimentId={3} />);
    fireEvent.click(screen.getByTestId("decide"));
    await screen.findByTestId("winner-label");
    fireEvent.click(screen.getByTestId("serve-winner"));
    expect((await screen.findByTestId("serving")).textContent).toContain("http://127.0.0.1:40123/v1");
    fireEvent.click(screen.getByTestId("stop-serving"));
    await waitFor(() => expect(screen.queryByTestId("serving")).toBeNull());
    expect(calls).toContain("stop_serving");

    refuse = true;
    fireEvent.click(screen.getByTestId("serve-winner"));
    expect((await screen.findByRole("alert")).textContent).toContain("serves local models so far");
  });
});
