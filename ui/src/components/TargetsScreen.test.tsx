import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { Endpoint } from "../api";
import { SettingsScreen } from "./SettingsScreen";
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
            throw { code: "connect", message: "http://127.0.0.1:9/v1/models: error sending request: Connection refused", details: null };
          }
          return { latency_ms: 3.4, models: ["gemma-3-270m", "qwen3-0.6b"], model_listed: false };
        default:
          throw new Error(cmd);
      }
    });
    render(<TargetsScreen />);
    fireEvent.change(screen.getByLabelText("endpoint name"), { target: { value: "farm" } });
    fireEvent.change(screen.getByLabelText("endpoint base_url"), { target: { value: "http://127.0.0.1:9/v1" } });
    fireEvent.click(screen.getByTestId("test-endpoint"));
    expect((await screen.findByRole("alert")).textContent).toContain("Connection refused");
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

describe("SettingsScreen", () => {
  it("shows where each key comes from, stores one in the keyring and never displays it", async () => {
    const stored: Record<string, string> = {};
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_endpoints":
          return [{ name: "groq", provider: "openai", base_url: "https://api.groq.com/openai/v1", api_key_env: "GROQ_API_KEY", model: null, include_usage: true }];
        case "key_status":
          return (args as { variables: string[] }).variables.map((variable) => ({
            variable,
            source: variable === "OPENAI_API_KEY" ? "environment" : stored[variable] ? "keyring" : "missing",
            message: null,
          }));
        case "set_api_key": {
          const { variable, key } = args as { variable: string; key: string };
          stored[variable] = key;
          return { variable, source: "keyring", message: null };
        }
        default:
          throw new Error(cmd);
      }
    });
    render(<SettingsScreen />);
    expect((await screen.findByTestId("key-status-GROQ_API_KEY")).textContent).toContain("not set");
    expect(screen.getByTestId("key-status-OPENAI_API_KEY").textContent).toContain("environment");
    fireEvent.change(screen.getByLabelText("key for GROQ_API_KEY"), { target: { value: "gsk_secret_0123456789" } });
    fireEvent.click(screen.getAllByText("Store in keyring")[3]);
    await waitFor(() => expect(screen.getByTestId("key-status-GROQ_API_KEY").textContent).toContain("stored in the OS keyring"));
    expect(stored.GROQ_API_KEY).toBe("gsk_secret_0123456789");
    expect((screen.getByLabelText("key for GROQ_API_KEY") as HTMLInputElement).value).toBe("");
    expect(document.body.textContent).not.toContain("gsk_secret_0123456789");
  });
});
