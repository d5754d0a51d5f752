import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { ModelView, QuantizeProgress } from "../api";
import { ModelsScreen } from "./ModelsScreen";
import { renderWithClient } from "../test/render";

function model(name: string, quantization: string, extra: Partial<ModelView> = {}): ModelView {
  return {
    path: `/models/${name}.gguf`,
    name,
    architecture: "gemma3",
    parameters_m: 268,
    quantization,
    trained_context: 32768,
    file_size_bytes: 253 << 20,
    has_chat_template: false,
    sha256: null,
    origin: null,
    requantized: false,
    error: null,
    ...extra,
  };
}

describe("ModelsScreen", () => {
  it("lists the library, refuses requantizing until asked, and streams quantization progress", async () => {
    const base = model("gemma-3-270m-q4_k_m", "Q4_K_M");
    const made = model("gemma-3-270m-q4_k_m-requant-q8_0", "Q8_0", { origin: "requantized from Q4_K_M", requantized: true });
    let library = [base, model("broken", "", { quantization: null, error: "broken.gguf: not a GGUF model file" })];
    const requests: unknown[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_models":
          return library;
        case "add_model_source":
          throw { code: "bad_input", message: "cannot add /nope to the model library: No such file or directory", details: null };
        case "quantize_model": {
          requests.push(args);
          const channel = (args as { onEvent: { onmessage: (e: QuantizeProgress) => void } }).onEvent;
          channel.onmessage({ kind: "progress", type_name: "Q8_0", done: 118, total: 236 });
          library = [...library, made];
          return [made.path];
        }
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    renderWithClient(<ModelsScreen />);
    await waitFor(() => expect(screen.getByText("gemma-3-270m-q4_k_m")).toBeTruthy());
    expect(screen.getByText("broken.gguf: not a GGUF model file")).toBeTruthy();
    expect(screen.getByText("none (base model)")).toBeTruthy();

    fireEvent.change(screen.getByLabelText("model file or folder"), { target: { value: "/nope" } });
    fireEvent.click(screen.getByText("Add"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("No such file or directory"));

    fireEvent.click(screen.getByLabelText("quantize gemma-3-270m-q4_k_m"));
    const start = screen.getByTestId("quantize-start") as HTMLButtonElement;
    // Disabled, and saying why; its own type is not offered.
    expect(start.disabled).toBe(true);
    expect(screen.getByTestId("quantize-why-not").textContent).toContain("already Q4_K_M: tick requantize");
    expect(within(screen.getByTestId("quantize-panel")).queryByText("Q4_K_M")).toBeNull();
    fireEvent.click(screen.getByLabelText(/requantize from Q4_K_M/));
    expect(start.disabled).toBe(false);
    expect(screen.queryByTestId("quantize-why-not")).toBeNull();
    fireEvent.click(start);
    await waitFor(() => expect(screen.getByText("requantized from Q4_K_M")).toBeTruthy());
    expect(requests).toEqual([expect.objectContaining({ source: base.path, types: ["Q8_0"], allowRequantize: true })]);
    // It ends saying what was written and how to use it, until closed.
    expect((await screen.findByTestId("quantize-done")).textContent).toContain(made.path);
    fireEvent.click(within(screen.getByTestId("quantize-panel")).getByText("Close"));
    expect(screen.queryByTestId("quantize-panel")).toBeNull();
  });

  it("shows a failed quantization as one sentence with the tool's last words folded under details", async () => {
    mockIPC((cmd) => {
      switch (cmd) {
        case "list_models":
          return [model("gemma-3-270m-f16", "F16")];
        case "quantize_model":
          throw {
            code: "internal",
            message: "quantizing gemma-3-270m-f16 to Q8_0 failed: the quantizer exited with status 1",
            details: "llama_model_quantize: failed to quantize: basic_ios::clear: iostream error",
          };
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    });
    renderWithClient(<ModelsScreen />);
    fireEvent.click(await screen.findByLabelText("quantize gemma-3-270m-f16"));
    fireEvent.click(screen.getByTestId("quantize-start"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("exited with status 1"));
    expect(screen.getByRole("alert").textContent).not.toContain("iostream");
    expect(screen.getByTestId("error-details").textContent).toContain("basic_ios::clear: iostream error");
  });
});
