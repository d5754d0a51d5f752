import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import App from "./App";
import type { ExperimentDraft, ExperimentItem, ProgressEvent } from "./api";
import type { ExperimentStatus } from "./bindings";
import { cell, results } from "./test/fixtures";
import { renderWithClient } from "./test/render";

describe("App", () => {
  it("opens the quickstart and shows its variants, and shows backend errors with their message", async () => {
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_experiments":
          return [];
        case "quickstart_file":
          return "/data/experiments/quickstart.yaml";
        case "open_experiment":
          if ((args as { path: string }).path.endsWith("broken.yaml")) {
            throw { code: "bad_input", message: "broken.yaml:3:1: did not find expected node content", details: null };
          }
          return {
            path: "/data/experiments/quickstart.yaml",
            name: "quickstart",
            variants: [
              { id: "fewshot", format: "raw", templates: ["Sentence: {{ sentence }}\nJSON:"] },
              { id: "chat", format: "chat", templates: ["system: JSON only", "user: {{ sentence }}"] },
            ],
            cases: ["berlin"],
            targets: ["gemma"],
            configs: ["fewshot · gemma · n_ctx 512", "chat · gemma · n_ctx 512"],
            runs: 2,
          };
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    renderWithClient(<App />);
    fireEvent.click(screen.getByTestId("open-quickstart"));
    await waitFor(() => expect(screen.getByTestId("opened-experiment").textContent).toContain("2 configs · 2 runs"));
    expect(screen.getByText("fewshot")).toBeTruthy();

    fireEvent.change(screen.getByLabelText("experiment file"), { target: { value: "/tmp/broken.yaml" } });
    fireEvent.click(screen.getByText("Open"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("broken.yaml:3:1: did not find expected node content"));
    // A failed Open leaves what was open as it was: its Run and Edit are still there.
    expect(screen.getByTestId("opened-experiment").textContent).toContain("quickstart");
    expect(screen.getByTestId("run-button")).toBeTruthy();
  });

  it("shows one results view at a time, the grid first, and keeps the winner card's objective across views", async () => {
    mockIPC((cmd) => {
      switch (cmd) {
        case "list_experiments":
          return [
            { id: 3, name: "quickstart", created_at: "2026-11-30T10:00:00Z", status: "completed", configs: 2, runs: 4, errors: 0, planned_runs: 4, source: null },
          ];
        case "results":
          return { ...results(), experiment_id: 3 };
        case "grid_page":
          return [cell(1, 0, 0, "Berlin")];
        default:
          return null;
      }
    });
    renderWithClient(<App />);
    fireEvent.click(await screen.findByText(/quickstart/, { selector: ".experiment-list .name" }));
    expect(await screen.findByTestId("results-grid")).toBeTruthy();
    expect(screen.queryByTestId("summary-table")).toBeNull();
    fireEvent.click(screen.getByTestId("tab-winner"));
    fireEvent.change(screen.getByLabelText("winner objective"), { target: { value: '{"order": ["fastest"]}' } });
    fireEvent.click(screen.getByTestId("tab-summary"));
    expect(screen.getByTestId("summary-table")).toBeTruthy();
    expect(screen.queryByTestId("results-grid")).toBeNull();
    fireEvent.click(screen.getByTestId("tab-winner"));
    expect((screen.getByLabelText("winner objective") as HTMLInputElement).value).toBe('{"order": ["fastest"]}');
  });

  it("shows a recorded experiment from the list with its file opened again, so Run and Edit are at hand", async () => {
    const opened: string[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_experiments":
          return [
            { id: 3, name: "quickstart", created_at: "2026-11-30T10:00:00Z", status: "completed", configs: 2, runs: 4, errors: 0, planned_runs: 4, source: "/data/experiments/quickstart.yaml" },
          ];
        case "results":
          return { ...results(), experiment_id: 3 };
        case "grid_page":
          return [];
        case "open_experiment":
          opened.push((args as { path: string }).path);
          return { path: "/data/experiments/quickstart.yaml", name: "quickstart", variants: [], cases: ["berlin"], targets: ["gemma"], configs: ["a", "b"], runs: 4 };
        default:
          return null;
      }
    });
    renderWithClient(<App />);
    fireEvent.click(await screen.findByText(/quickstart/, { selector: ".experiment-list .name" }));
    await waitFor(() => expect(screen.getByTestId("results")).toBeTruthy());
    await waitFor(() => expect(opened).toEqual(["/data/experiments/quickstart.yaml"]));
    expect(await screen.findByTestId("run-button")).toBeTruthy();
  });

  it("resumes an interrupted experiment from the list into the same experiment", async () => {
    let resumed = false;
    const calls: { cmd: string; args: unknown }[] = [];
    const item = (status: ExperimentStatus, runs: number): ExperimentItem => ({
      id: 7,
      name: "sweep",
      created_at: "2026-11-29T10:00:00Z",
      status,
      configs: 6,
      runs,
      errors: 0,
      planned_runs: 48,
      source: null,
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
    renderWithClient(<App />);
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

const opened = (path: string, runs: number) => ({
  path,
  name: "quickstart",
  variants: [{ id: "fewshot", format: "raw", templates: ["Sentence: {{ sentence }}\nJSON:"] }],
  cases: ["berlin", "paris"],
  targets: ["gemma"],
  local_targets: ["gemma"],
  configs: ["fewshot · gemma · n_ctx 512"],
  runs,
});

const DRAFT: ExperimentDraft = {
  name: "quickstart",
  description: null,
  variants: [],
  cases: [],
  targets: [],
  repetitions: 1,
  checks: "[]",
  objective: "",
  cache: null,
  graders: "",
  policies: "",
  search: "",
  budget: "",
};

const item = (id: number, status: ExperimentStatus, runs: number): ExperimentItem => ({
  id,
  name: "quickstart",
  created_at: "2026-11-29T10:00:00Z",
  status,
  configs: 1,
  runs,
  errors: 0,
  planned_runs: 2,
});

describe("App state", () => {
  it("keeps the opened experiment, the editor and the results while another screen is shown", async () => {
    mockIPC((cmd) => {
      switch (cmd) {
        case "list_experiments":
          return [item(3, "completed", 2)];
        case "quickstart_file":
          return "/data/experiments/quickstart.yaml";
        case "open_experiment":
          return opened("/data/experiments/quickstart.yaml", 2);
        case "results":
          return { ...results(1), experiment_id: 3, repetitions: 2 };
        case "grid_page":
          return [];
        case "list_models":
          return [];
        case "read_experiment":
          return DRAFT;
        case "plan_experiment":
          return { runs: 0, repetitions: 1, configs: [], cells: [], max_token_cost_usd: null };
        default:
          throw { code: "not_found", message: `not in this test: ${cmd}`, details: null };
      }
    });
    renderWithClient(<App />);
    fireEvent.click(screen.getByTestId("open-quickstart"));
    await screen.findByTestId("opened-experiment");
    fireEvent.click(await screen.findByText(/#3 quickstart/));
    const repetition = (await screen.findByTestId("repetition")) as HTMLSelectElement;
    fireEvent.change(repetition, { target: { value: "1" } });
    fireEvent.click(screen.getByTestId("edit-button"));
    await screen.findByTestId("editor");

    fireEvent.click(screen.getByTestId("models-button"));
    await screen.findByTestId("models-screen");
    expect(screen.queryByTestId("opened-experiment")).toBeNull();
    expect(screen.queryByTestId("results")).toBeNull();

    fireEvent.click(screen.getByText("Experiments", { selector: "button" }));
    expect(screen.getByTestId("opened-experiment").textContent).toContain("1 configs · 2 runs");
    expect((screen.getByTestId("repetition") as HTMLSelectElement).value).toBe("1");
    expect(screen.getByTestId("editor")).toBeTruthy();
    expect((screen.getByLabelText("experiment file") as HTMLInputElement).value).toBe("/data/experiments/quickstart.yaml");
  });

  it("shows the file the editor saved as the one opened, under its new name", async () => {
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_experiments":
          return [];
        case "quickstart_file":
          return "/data/experiments/quickstart.yaml";
        case "open_experiment":
          return opened("/data/experiments/quickstart.yaml", 2);
        case "read_experiment":
          return DRAFT;
        case "plan_experiment":
          return { runs: 0, repetitions: 1, configs: [], cells: [], max_token_cost_usd: null };
        case "save_experiment":
          return opened((args as { path: string }).path, 4);
        default:
          throw { code: "not_found", message: `not in this test: ${cmd}`, details: null };
      }
    });
    renderWithClient(<App />);
    fireEvent.click(screen.getByTestId("open-quickstart"));
    fireEvent.click(await screen.findByTestId("edit-button"));
    fireEvent.change(await screen.findByLabelText("save as"), { target: { value: "/data/experiments/mine.yaml" } });
    fireEvent.click(screen.getByTestId("save-experiment"));
    await waitFor(() => expect(screen.getByTestId("message").textContent).toBe("Saved /data/experiments/mine.yaml"));
    expect(screen.queryByTestId("editor")).toBeNull();
    expect(screen.getByTestId("opened-experiment").textContent).toContain("/data/experiments/mine.yaml");
    expect(screen.getByTestId("opened-experiment").textContent).toContain("4 runs");
    expect((screen.getByLabelText("experiment file") as HTMLInputElement).value).toBe("/data/experiments/mine.yaml");
  });

  it("reads the list and the experiment's grid again after a run, before it says the run completed", async () => {
    let finished = 0;
    let listed = 0;
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_experiments":
          listed++;
          return finished === 0 ? [] : [item(5, finished === 2 ? "completed" : "running", finished)];
        case "quickstart_file":
          return "/data/experiments/quickstart.yaml";
        case "open_experiment":
          return opened("/data/experiments/quickstart.yaml", 2);
        case "results":
          return { ...results(1), experiment_id: 5, status: finished === 2 ? "completed" : "running", recorded_runs: finished };
        case "grid_page":
          return [cell(1, 0, 0, "Berlin"), cell(2, 0, 1, "Paris")].slice(0, finished);
        case "run_experiment": {
          const channel = (args as { onEvent: { onmessage: (e: ProgressEvent) => void } }).onEvent;
          channel.onmessage({ kind: "started", experiment_id: 5, total: 2 });
          return new Promise((resolve) =>
            setTimeout(() => {
              // Both runs finish at once: the second is within the live refresh's interval, so only
              // the read after the run shows it.
              finished = 1;
              channel.onmessage({ kind: "run_finished", done: 1, total: 2, config: 0, case: 0, repetition: 0, output: "Berlin" });
              finished = 2;
              channel.onmessage({ kind: "run_finished", done: 2, total: 2, config: 0, case: 1, repetition: 0, output: "Paris" });
              resolve({ experiment_id: 5, status: "completed" });
            }, 50),
          );
        }
        default:
          throw { code: "not_found", message: `not in this test: ${cmd}`, details: null };
      }
    });
    renderWithClient(<App />);
    fireEvent.click(screen.getByTestId("open-quickstart"));
    fireEvent.click(await screen.findByTestId("run-button"));
    await waitFor(() => expect(screen.getByTestId("message").textContent).toBe("Experiment 5 completed."));
    expect(screen.getByText("Paris")).toBeTruthy();
    expect(screen.getByTestId("experiment-status").textContent).toBe("completed");
    await waitFor(() => expect(screen.getByTestId("experiment-list").textContent).toContain("completed"));
    expect(listed).toBeGreaterThanOrEqual(3);
  });

  it("shows a run that failed as its one sentence, with the experiment process's last words folded under details", async () => {
    mockIPC((cmd) => {
      switch (cmd) {
        case "list_experiments":
          return [];
        case "quickstart_file":
          return "/data/experiments/quickstart.yaml";
        case "open_experiment":
          return opened("/data/experiments/quickstart.yaml", 2);
        case "run_experiment":
          throw {
            code: "internal",
            message: "the experiment process exited with status 101 before it finished",
            details: "thread 'main' panicked at crates/cli/src/main.rs:12:5: the last words",
          };
        default:
          throw { code: "not_found", message: `not in this test: ${cmd}`, details: null };
      }
    });
    renderWithClient(<App />);
    fireEvent.click(screen.getByTestId("open-quickstart"));
    fireEvent.click(await screen.findByTestId("run-button"));
    await waitFor(() => expect(screen.getByTestId("message").textContent).toContain("exited with status 101"));
    expect(screen.getByTestId("message").textContent).not.toContain("panicked");
    expect(screen.getByTestId("error-details").textContent).toContain("the last words");
  });
});

describe("The first screen", () => {
  it("says what Tradeoff answers, runs the quickstart in one click, and lists the recent experiments", async () => {
    const calls: string[] = [];
    mockIPC((cmd, args) => {
      calls.push(cmd);
      switch (cmd) {
        case "list_experiments":
          return [
            { id: 2, name: "sweep", created_at: "2026-11-30T10:00:00Z", status: "completed", configs: 2, runs: 4, errors: 0, planned_runs: 4, source: null },
          ];
        case "quickstart_file":
          return "/data/experiments/quickstart.yaml";
        case "open_experiment":
          return opened("/data/experiments/quickstart.yaml", 2);
        case "run_experiment": {
          const channel = (args as { onEvent: { onmessage: (e: ProgressEvent) => void } }).onEvent;
          channel.onmessage({ kind: "started", experiment_id: 3, total: 2 });
          return { experiment_id: 3, status: "completed" };
        }
        case "results":
          return { ...results(), experiment_id: 3 };
        case "grid_page":
          return [];
        default:
          return null;
      }
    });
    renderWithClient(<App />);
    const first = await screen.findByTestId("first-screen");
    expect(first.textContent).toContain("lowest latency and cost");
    expect(within(await screen.findByTestId("recent-experiments")).getByText("#2 sweep")).toBeTruthy();
    fireEvent.click(screen.getByTestId("run-quickstart"));
    await waitFor(() => expect(calls).toContain("run_experiment"));
    expect(calls.indexOf("quickstart_file")).toBeLessThan(calls.indexOf("open_experiment"));
    await waitFor(() => expect(screen.queryByTestId("first-screen")).toBeNull());
  });
});
