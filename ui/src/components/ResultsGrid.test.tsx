import { render, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it, vi } from "vitest";
import { cell, results } from "../test/fixtures";
import { ResultsGrid } from "./ResultsGrid";

const noop = () => undefined;

describe("ResultsGrid", () => {
  it("shows one row per case and one column per config with metric badges", () => {
    const view = results([cell(1, 0, 0, "Berlin"), cell(2, 1, 0, "Bonn"), cell(3, 0, 1, "Paris"), cell(4, 1, 1, "Lyon")]);
    render(<ResultsGrid results={view} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    expect(screen.getByText("berlin")).toBeTruthy();
    expect(screen.getByText("Lyon")).toBeTruthy();
    expect(screen.getByText("fewshot · gemma · 512")).toBeTruthy();
    expect(screen.getAllByText("120 ms")).toHaveLength(4);
    expect(screen.getAllByText("30→8 tok")).toHaveLength(4);
  });

  it("renders model output as text, never as HTML", () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
    const { container } = render(
      <ResultsGrid results={results([cell(1, 0, 0, hostile)], 1, ["x"])} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />,
    );
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("script")).toBeNull();
    expect(screen.getByText(hostile)).toBeTruthy();
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it("shows a failed run's error instead of output", () => {
    const view = results([cell(1, 0, 0, "", { error: "context_overflow: the prompt is 600 tokens", latency_ms: null })], 1, ["long"]);
    render(<ResultsGrid results={view} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    expect(screen.getByText("context_overflow: the prompt is 600 tokens")).toBeTruthy();
  });

  it("diffs every cell against the baseline column of the same case", async () => {
    const calls: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "diff_runs") {
        calls.push(args);
        return {
          spans: [
            { kind: "equal", text: "the " },
            { kind: "delete", text: "quick" },
            { kind: "insert", text: "slow" },
            { kind: "equal", text: " fox" },
          ],
          similarity: 0.75,
        };
      }
      throw new Error(`unexpected command ${cmd}`);
    });
    const view = results([cell(10, 0, 0, "the quick fox"), cell(11, 1, 0, "the slow fox")], 2, ["one"]);
    const { container } = render(
      <ResultsGrid results={view} repetition={0} baseline={0} granularity="word" selected={[]} onSelect={noop} />,
    );
    await waitFor(() => expect(container.querySelector('[data-diff="insert"]')?.textContent).toBe("slow"));
    expect(container.querySelector('[data-diff="delete"]')?.textContent).toBe("quick");
    expect(screen.getByText("≈ 75%")).toBeTruthy();
    expect(calls).toEqual([{ baselineRunId: 10, otherRunId: 11, granularity: "word" }]);
    // The baseline cell itself is shown plain, marked as baseline in its header.
    expect(screen.getByText("the quick fox")).toBeTruthy();
    expect(screen.getByText("baseline")).toBeTruthy();
  });

  it("reports clicks on a cell with its run id", () => {
    const onSelect = vi.fn();
    render(<ResultsGrid results={results([cell(7, 0, 0, "hi")], 1, ["a"])} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={onSelect} />);
    screen.getByText("hi").click();
    expect(onSelect).toHaveBeenCalledWith(7);
  });
});
