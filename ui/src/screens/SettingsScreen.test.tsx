import { fireEvent, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import { renderWithClient } from "../test/render";
import { SettingsScreen } from "./SettingsScreen";

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
    renderWithClient(<SettingsScreen />);
    expect((await screen.findByTestId("key-status-GROQ_API_KEY")).textContent).toContain("not set");
    expect(screen.getByTestId("key-status-OPENAI_API_KEY").textContent).toContain("environment");
    fireEvent.change(screen.getByLabelText("key for GROQ_API_KEY"), { target: { value: "gsk_secret_0123456789" } });
    fireEvent.click(screen.getAllByText("Store in keyring")[3]);
    await waitFor(() => expect(screen.getByTestId("key-status-GROQ_API_KEY").textContent).toContain("stored in the OS keyring"));
    expect(stored.GROQ_API_KEY).toBe("gsk_secret_0123456789");
    expect((screen.getByLabelText("key for GROQ_API_KEY") as HTMLInputElement).value).toBe("");
    expect(document.body.textContent).not.toContain("gsk_secret_0123456789");
  });

  it("says once, above the keys, that the OS keyring cannot be reached, and why Store is disabled", async () => {
    const reason = "org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided";
    mockIPC((cmd, args) => {
      switch (cmd) {
        case "list_endpoints":
          return [];
        case "key_status":
          return (args as { variables: string[] }).variables.map((variable) => ({ variable, source: "unavailable", message: reason }));
        default:
          throw new Error(cmd);
      }
    });
    renderWithClient(<SettingsScreen />);
    const banner = await screen.findByTestId("keyring-unavailable");
    expect(banner.textContent).toContain("org.freedesktop.secrets");
    expect(document.body.textContent?.split("org.freedesktop.secrets").length).toBe(2);
    const store = screen.getAllByText("Store in keyring")[0] as HTMLButtonElement;
    expect(store.disabled).toBe(true);
    expect(store.title).toContain("set the environment variable");
  });
});
