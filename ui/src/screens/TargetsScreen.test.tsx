import { fireEvent, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../api";
import { renderWithClient } from "../test/render";
import { TargetsScreen } from "./TargetsScreen";

describe("TargetsScreen", () => {
  it("saves an endpoint, tests the connection and offers the server's models to pick", async () => {
    let saved: Endpoint[] = [];
    const tested: Endpoint[] = [];
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_endpoints":
          return saved;
        case "save_endpoint":
          saved = [(args as { endpoint: Endpoint }).endpoint];
          return saved;
        case "test_endpoint":
          tested.push((args as { endpoint: Endpoint }).endpoint);
          if (tested.length === 1) {
            throw {
              code: "connect",
              message: "Nothing answers at http://127.0.0.1:9/v1/models (Connection refused): is the server running, and is the base URL right?",
              details: "http://127.0.0.1:9/v1/models: error sending request: tcp connect error: Connection refused",
              field: null,
            };
          }
          return { latency_ms: 3.4, models: ["gemma-3-270m", "qwen3-0.6b"], model_listed: false };
        default:
          throw new Error(cmd);
      }
    });
    renderWithClient(<TargetsScreen />);
    fireEvent.change(screen.getByLabelText("endpoint name"), { target: { value: "farm" } });
    fireEvent.change(screen.getByLabelText("endpoint base_url"), { target: { value: "http://127.0.0.1:9/v1" } });
    fireEvent.click(screen.getByTestId("test-endpoint"));
    expect((await screen.findByRole("alert")).textContent).toContain("Nothing answers at http://127.0.0.1:9/v1/models (Connection refused)");
    // The cause chain is folded under the sentence.
    expect(screen.getByTestId("error-details").textContent).toContain("tcp connect error");
    fireEvent.click(screen.getByTestId("test-endpoint"));
    await screen.findByTestId("probe");
    expect(screen.getByTestId("probe").textContent).toContain("2 models offered");
    fireEvent.click(screen.getByText("qwen3-0.6b"));
    expect((screen.getByLabelText("endpoint model") as HTMLInputElement).value).toBe("qwen3-0.6b");
    fireEvent.click(screen.getByTestId("save-endpoint"));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0]).toMatchObject({ name: "farm", provider: "openai", base_url: "http://127.0.0.1:9/v1", model: "qwen3-0.6b", api_key_env: null });
    expect(await screen.findByText("http://127.0.0.1:9/v1")).toBeTruthy();
  });
});
