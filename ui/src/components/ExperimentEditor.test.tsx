import { fireEvent, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it, vi } from "vitest";
import type { ExperimentDraft } from "../api";
import { ExperimentEditor } from "./ExperimentEditor";
import { renderWithClient } from "../test/render";

const draft: ExperimentDraft = {
  name: "quickstart",
  description: null,
  variants: [
    { id: "fewshot", description: null, system: null, messages: [], user: null, prompt: "Sentence: {{ sentence }}\nJSON:" },
    { id: "chat", description: null, system: "JSON only.", messages: [], user: "{{ sentence }}", prompt: null },
  ],
  cases: [{ id: "berlin", vars: { sentence: "The Berlin Wall fell in 1989." }, expected: null, checks: "[]" }],
  targets: [
    { id: "gemma", model: "default", n_ctx: [512, 2048], threads: [2], batch: [], kv_type: [], n_gpu_layers: [], parallel: [], prefix_cache: [], price: "", chat_template: null, temperature: 0, top_p: null, top_k: null, seed: 1, max_tokens: 32, stop: ["\n"], provider: null, base_url: null, api_key_env: null, max_concurrency: null, requests_per_minute: null, max_attempts: null, timeout: null, include_usage: null, logprobs: null, extra_body: "" },
  ],
  repetitions: 2,
  checks: '[{"type": "json_valid"}]',
  objective: "",
  cache: null,
  graders: "",
  policies: "",
  search: "",
  budget: "",
};

describe("ExperimentEditor", () => {
  it("edits templates, cases and dimensions and saves them to the chosen path", async () => {
    const saved: { path: string; draft: ExperimentDraft }[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "save_experiment") throw new Error(cmd);
      saved.push(args as { path: string; draft: ExperimentDraft });
      return { path: "/tmp/new.json", name: "quickstart", variants: [], cases: [], targets: [], configs: [], runs: 3 };
    });
    const onSaved = vi.fn();
    renderWithClient(<ExperimentEditor path="/tmp/q.yaml" initial={draft} onSaved={onSaved} onClose={vi.fn()} />);
    fireEvent.change(screen.getByLabelText("variant chat user"), { target: { value: "Extract: {{ sentence }}" } });
    fireEvent.change(screen.getByLabelText("case 1 sentence"), { target: { value: "Paris, 1889." } });
    const nCtx = screen.getByLabelText("target gemma n_ctx");
    fireEvent.change(nCtx, { target: { value: "1024, 4096" } });
    fireEvent.blur(nCtx);
    fireEvent.change(screen.getByLabelText("repetitions"), { target: { value: "3" } });
    fireEvent.click(screen.getByText("Add case"));
    fireEvent.change(screen.getByLabelText("save as"), { target: { value: "/tmp/new.json" } });
    fireEvent.click(screen.getByTestId("save-experiment"));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    const { path, draft: sent } = saved[0];
    expect(path).toBe("/tmp/new.json");
    expect(sent.variants[1].user).toBe("Extract: {{ sentence }}");
    expect(sent.variants[0].prompt).toBe(draft.variants[0].prompt);
    expect(sent.cases[0].vars.sentence).toBe("Paris, 1889.");
    expect(sent.cases).toHaveLength(2);
    expect(sent.cases[1].vars).toEqual({ sentence: "" });
    expect(sent.targets[0].n_ctx).toEqual([1024, 4096]);
    expect(sent.repetitions).toBe(3);
  });

  it("shows why the backend refused to save next to the Save button and at the field, with the cursor there", async () => {
    mockIPC(() => {
      throw {
        code: "bad_input",
        message: "q.yaml: variants[0].prompt: uses variable `sentnce`",
        details: null,
        field: { path: "variants[0].prompt", message: "uses variable `sentnce`" },
      };
    });
    renderWithClient(<ExperimentEditor path="/tmp/q.yaml" initial={draft} onSaved={vi.fn()} onClose={vi.fn()} />);
    fireEvent.click(screen.getByTestId("save-experiment"));
    expect((await screen.findByTestId("save-error")).textContent).toContain("variants[0].prompt");
    const prompt = screen.getByLabelText("variant fewshot prompt");
    await waitFor(() => expect(document.activeElement).toBe(prompt));
    expect(prompt.getAttribute("aria-invalid")).toBe("true");
    const note = screen.getByTestId("field-error");
    expect(note.textContent).toBe("uses variable `sentnce`");
    expect(note.closest('[data-field="variants[0]"]')).not.toBeNull();
  });

  it("points a refused sweep value at the setting that lists it", async () => {
    mockIPC(() => {
      throw {
        code: "bad_input",
        message: "q.yaml: targets[0].n_ctx[1]: must be at least 1",
        details: null,
        field: { path: "targets[0].n_ctx[1]", message: "must be at least 1" },
      };
    });
    renderWithClient(<ExperimentEditor path="/tmp/q.yaml" initial={draft} onSaved={vi.fn()} onClose={vi.fn()} />);
    fireEvent.click(screen.getByTestId("save-experiment"));
    const nCtx = screen.getByLabelText("target gemma n_ctx");
    await waitFor(() => expect(nCtx.getAttribute("aria-invalid")).toBe("true"));
    expect(document.activeElement).toBe(nCtx);
  });

  it("turns a target into a remote API target without local settings the file would refuse", async () => {
    const saved: ExperimentDraft[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "save_experiment") throw new Error(cmd);
      saved.push((args as { draft: ExperimentDraft }).draft);
      return { path: "/tmp/q.yaml", name: "quickstart", variants: [], cases: [], targets: [], configs: [], runs: 2 };
    });
    renderWithClient(<ExperimentEditor path="/tmp/q.yaml" initial={draft} onSaved={vi.fn()} onClose={vi.fn()} />);
    fireEvent.change(screen.getByLabelText("target gemma provider"), { target: { value: "openai" } });
    expect(screen.queryByLabelText("target gemma n_ctx")).toBeNull();
    fireEvent.change(screen.getByLabelText("target gemma model"), { target: { value: "gemma-3-270m" } });
    fireEvent.change(screen.getByLabelText("target gemma base_url"), { target: { value: "http://127.0.0.1:8080/v1" } });
    fireEvent.change(screen.getByLabelText("target gemma max_concurrency"), { target: { value: "8" } });
    fireEvent.click(screen.getByTestId("save-experiment"));
    await waitFor(() => expect(saved).toHaveLength(1));
    const target = saved[0].targets[0];
    expect(target).toMatchObject({ provider: "openai", model: "gemma-3-270m", base_url: "http://127.0.0.1:8080/v1", max_concurrency: 8 });
    expect(target.n_ctx).toEqual([]);
    expect(target.threads).toEqual([]);
  });

  it("shows the draft's plan and counts again after an edit", async () => {
    const planned: ExperimentDraft[] = [];
    mockIPC((cmd, args) => {
      if (cmd !== "plan_experiment") throw new Error(cmd);
      const sent = (args as { draft: ExperimentDraft }).draft;
      planned.push(sent);
      const user = sent.variants[1].user ?? "";
      const cell = (config: string, tokens: number, estimated: boolean, fits: boolean) => ({
        config,
        case: "1",
        input_tokens: tokens,
        tokens_estimated: estimated,
        counted_by: estimated ? "estimate (~4 characters per token)" : "llama.cpp",
        max_tokens: 64,
        n_ctx: 128,
        fits_context: fits,
        max_token_cost_usd: null,
        time_priced: !estimated,
        problem: null,
      });
      return {
        runs: 2,
        repetitions: 1,
        configs: [{ config: "raw · gemma · n_ctx 128", memory_bytes: 300 * 1024 * 1024, fits_memory: true }],
        cells: [cell("raw · gemma · n_ctx 128", user.length, false, user.length + 64 <= 128), cell("claude", 12, true, true)],
        max_token_cost_usd: null,
      };
    });
    renderWithClient(<ExperimentEditor path="/tmp/q.yaml" initial={draft} onSaved={vi.fn()} onClose={vi.fn()} />);
    await waitFor(() => expect(screen.getAllByTestId("plan-tokens").map((c) => c.textContent)).toEqual([String((draft.variants[1].user ?? "").length), "~12"]));
    expect(screen.getByTestId("plan-preview").textContent).toContain("300.0 MiB");
    fireEvent.change(screen.getByLabelText("variant chat user"), { target: { value: "x".repeat(100) } });
    await waitFor(() => expect(screen.getAllByTestId("plan-tokens")[0].textContent).toBe("100"));
    expect(screen.getByTestId("plan-cells").textContent).toContain("NO: raise n_ctx or lower max_tokens");
    // A local model priced per hour has no token bound: its cost is known once it has run.
    expect(screen.getByTestId("plan-cells").textContent).toContain("by time");
    expect(planned[planned.length - 1].variants[1].user).toBe("x".repeat(100));
  });
});
