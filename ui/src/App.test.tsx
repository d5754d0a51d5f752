import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import App from "./App";

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
    render(<App />);
    fireEvent.click(screen.getByTestId("open-quickstart"));
    await waitFor(() => expect(screen.getByTestId("opened-experiment").textContent).toContain("2 configs · 2 runs"));
    expect(screen.getByText("fewshot")).toBeTruthy();

    fireEvent.change(screen.getByLabelText("experiment file"), { target: { value: "/tmp/broken.yaml" } });
    fireEvent.click(screen.getByText("Open"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("broken.yaml:3:1: did not find expected node content"));
  });
});
