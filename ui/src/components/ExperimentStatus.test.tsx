import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it, vi } from "vitest";
import App from "../App";
import type { ExperimentItem } from "../api";
import { results } from "../test/fixtures";
import { ExperimentStatus } from "./ExperimentStatus";

describe("ExperimentStatus", () => {
  it("says how many planned runs an interrupted experiment recorded and offers Resume", () => {
    const onResume = vi.fn();
    render(<ExperimentStatus status="interrupted" recorded={31} planned={48} onResume={onResume} busy={false} />);
    expect(screen.getByTestId("experiment-status").textContent).toBe("interrupted — 31 of 48 runs recorded");
    fireEvent.click(screen.getByTestId("resume-button"));
    expect(onResume).toHaveBeenCalledTimes(1);
  });

  it("offers no Resume for a completed or running experiment, and waits while another one runs", () => {
    const { rerender } = render(<ExperimentStatus status="completed" recorded={48} planned={48} onResume={() => {}} busy={false} />);
    expect(screen.getByTestId("experiment-status").textContent).toBe("completed");
    expect(screen.queryByTestId("resume-button")).toBeNull();
    rerender(<ExperimentStatus status="running" recorded={3} planned={48} onResume={() => {}} busy={false} />);
    expect(screen.getByTestId("experiment-status").textContent).toBe("running — 3 of 48 runs recorded");
    expect(screen.queryByTestId("resume-button")).toBeNull();
    rerender(<ExperimentStatus status="interrupted" recorded={3} planned={48} onResume={() => {}} busy={true} />);
    expect((screen.getByTestId("resume-button") as HTMLButtonElement).disabled).toBe(true);
  });

  it("resumes an interrupted experiment from the list into the same experiment", async () => {
    let resumed = false;
    const calls: { cmd: string; args: unknown }[] = [];
    const item = (status: string, runs: number): ExperimentItem => ({
      id: 7,
      name: "sweep",
      created_at: "2026-11-29T10:00:00Z",
      status,
      configs: 6,
      runs,
      errors: 0,
      planned_runs: 48,
    });
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      switch (cmd) {
        case "list_experiments":
          return [resumed ? item("completed", 48) : item("interrupted", 31)];
        case "results":
          return {
            ...results(),
            experiment_id: 7,
            status: resumed ? "completed" : "interrupted",
            recorded_runs: resumed ? 48 : 31,
            planned_runs: 48,
          };
        case "resume_experiment":
          resumed = true;
          return { experiment_id: 7, status: "completed" };
        case "grid_page":
          return [];
        default:
          throw { code: "not_found", message: `not in this test: ${cmd}`, details: null };
      }
    });
    render(<App />);
    const list = await screen.findByTestId("experiment-list");
    await waitFor(() => expect(list.textContent).toContain("interrupted — 31 of 48 runs recorded"));

    fireEvent.click(within(list).getByTestId("resume-7"));
    await waitFor(() => expect(screen.getByTestId("message").textContent).toBe("Experiment 7 completed."));
    const resume = calls.find((c) => c.cmd === "resume_experiment");
    expect((resume?.args as { experimentId: number }).experimentId).toBe(7);
    expect(calls.filter((c) => c.cmd === "run_experiment")).toHaveLength(0);
    await waitFor(() => expect(screen.getByTestId("experiment-status").textContent).toBe("completed"));
    expect(within(screen.getByTestId("experiment-list")).queryByTestId("resume-7")).toBeNull();
  });
});
