import { fireEvent, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import { PriceTable } from "./PriceTable";
import { renderWithClient } from "../test/render";

const entry = (model: string, input: number, origin: string) => ({
  provider: "openai",
  model,
  input_per_mtok: input,
  output_per_mtok: 0.6,
  cached_input_per_mtok: null,
  context_window: 128000,
  source: "https://openai.com/api/pricing/",
  as_of: "2025-06",
  origin,
});

describe("PriceTable", () => {
  it("lists the prices in force, saves overrides and shows a refused file without losing the text", async () => {
    let stored = "";
    mockIPC((cmd, args) => {
      const view = () => ({
        overrides_path: "/data/prices.json",
        overrides_text: stored,
        problem: null,
        entries: [entry("gpt-4o-mini", stored ? 0.1 : 0.15, stored ? "/data/prices.json" : "built-in")],
      });
      if (cmd === "prices") return view();
      if (cmd === "save_price_overrides") {
        const text = (args as { text: string }).text;
        if (!text.includes("models")) throw { code: "bad_input", message: "/data/prices.json: line 1, column 14: missing field `models`", details: null };
        stored = text;
        return view();
      }
      throw new Error(cmd);
    });
    renderWithClient(<PriceTable />);
    await waitFor(() => expect(screen.getAllByTestId("price-row")).toHaveLength(1));
    expect(screen.getByTestId("price-row").textContent).toContain("$0.15");
    expect(screen.getByTestId("price-row").textContent).toContain("built-in");

    const box = screen.getByLabelText("price overrides") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: '{"schema": 1}' } });
    fireEvent.click(screen.getByTestId("save-prices"));
    expect((await screen.findByRole("alert")).textContent).toContain("missing field `models`");
    expect(box.value).toBe('{"schema": 1}');

    fireEvent.change(box, { target: { value: '{"schema": 1, "models": []}' } });
    fireEvent.click(screen.getByTestId("save-prices"));
    await waitFor(() => expect(screen.getByTestId("price-row").textContent).toContain("$0.1"));
    expect(screen.getByTestId("price-row").textContent).toContain("your overrides");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("shows an override file that does not read, so it can be mended", async () => {
    mockIPC((cmd) => {
      if (cmd !== "prices") throw new Error(cmd);
      return {
        overrides_path: "/data/prices.json",
        overrides_text: '{"schema": 1, "models": [{"provider": "openai"}]}',
        problem: "/data/prices.json: line 1, column 49: models[0]: missing field `model`",
        entries: [entry("gpt-4o-mini", 0.15, "built-in")],
      };
    });
    renderWithClient(<PriceTable />);
    expect((await screen.findByTestId("prices-problem")).textContent).toContain("missing field `model`");
    expect((screen.getByLabelText("price overrides") as HTMLTextAreaElement).value).toContain('"provider": "openai"');
    expect(screen.getByTestId("price-row").textContent).toContain("built-in");
  });
});
