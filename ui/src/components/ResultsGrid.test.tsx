import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { cell, metrics, mockBackend, results } from "../test/fixtures";
import { ResultsGrid } from "./ResultsGrid";
import { renderWithClient } from "../test/render";

const noop = () => undefined;

describe("ResultsGrid", () => {
  it("shows one row per case and one column per config with metric badges", async () => {
    mockBackend([cell(1, 0, 0, "Berlin"), cell(2, 1, 0, "Bonn"), cell(3, 0, 1, "Paris"), cell(4, 1, 1, "Lyon")]);
    renderWithClient(<ResultsGrid results={results()} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    expect(await screen.findByText("Lyon")).toBeTruthy();
    expect(screen.getByText("berlin")).toBeTruthy();
    expect(screen.getByText("fewshot · gemma · n_ctx 512")).toBeTruthy();
    expect(screen.getAllByText("120 ms")).toHaveLength(4);
    expect(screen.getAllByText("30→8 tok")).toHaveLength(4);
  });

  it("marks a run that other programs slowed as contended, saying by how much", async () => {
    const slowed = cell(1, 0, 0, "Berlin", {
      metrics: metrics({ latency_ms: 400, input_tokens: 30, output_tokens: 8, other_cpu_cores: 0.9, contended: true }),
    });
    mockBackend([slowed, cell(2, 1, 0, "Bonn")]);
    renderWithClient(<ResultsGrid results={results()} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    const badge = await screen.findByText("contended");
    expect(badge.getAttribute("title")).toContain("0.9 cores");
    expect(screen.getAllByText("contended")).toHaveLength(1);
  });

  it("loads only the pages of cases on screen", async () => {
    const pages: number[] = [];
    const cases = Array.from({ length: 20_000 }, (_, i) => `case ${i}`);
    mockBackend([]);
    const { mockIPC } = await import("@tauri-apps/api/mocks");
    mockIPC((cmd, args) => {
      if (cmd !== "grid_page") throw new Error(cmd);
      const { firstCase } = args as { firstCase: number };
      pages.push(firstCase);
      return [cell(firstCase + 1, 0, firstCase, `first of page ${firstCase}`)];
    });
    renderWithClient(<ResultsGrid results={results(1, cases)} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    expect(await screen.findByText("first of page 0")).toBeTruthy();
    expect(pages).toEqual([0]);
    expect(document.querySelectorAll(".grid-case").length).toBeLessThan(20);
  });

  it("renders model output as text, never as HTML", async () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
    mockBackend([cell(1, 0, 0, hostile)]);
    const { container } = renderWithClient(
      <ResultsGrid results={results(1, ["x"])} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />,
    );
    expect(await screen.findByText(hostile)).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("script")).toBeNull();
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it("labels a cache hit and shows none of its original run's timings", async () => {
    mockBackend([cell(1, 0, 0, "Berlin", { cache_hit: true }), cell(2, 1, 0, "Bonn")]);
    renderWithClient(<ResultsGrid results={results(2, ["berlin"])} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    expect(await screen.findByText("cached")).toBeTruthy();
    expect(screen.getAllByText("120 ms")).toHaveLength(1);
    expect(screen.getAllByText("30→8 tok")).toHaveLength(2);
  });

  it("shows a failed run's error instead of output", async () => {
    mockBackend([cell(1, 0, 0, "", { error: { class: "context_overflow", message: "the prompt is 600 tokens" }, metrics: null, gen_tokens_per_s: null })]);
    renderWithClient(<ResultsGrid results={results(1, ["long"])} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    expect(await screen.findByText("context_overflow: the prompt is 600 tokens")).toBeTruthy();
  });

  it("marks runs that passed or failed their checks, naming the failed ones", async () => {
    mockBackend([
      cell(1, 0, 0, '{"city": "Berlin"}', { passed: true }),
      cell(2, 1, 0, "Berlin, 1989", { passed: false, failed_checks: ["json_valid: not JSON: expected value"] }),
      cell(3, 0, 1, "Paris", { passed: false, failed_checks: ['equals "{\\"city\\": \\"Paris\\"}": differs', "contains Paris: missing", "regex ^x: no match"] }),
    ]);
    renderWithClient(<ResultsGrid results={results(2, ["berlin", "paris"])} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={noop} />);
    expect(await screen.findByText("✓ checks")).toBeTruthy();
    const failed = screen.getByText("✗ json_valid");
    expect(failed.getAttribute("title")).toBe("json_valid: not JSON: expected value");
    expect(screen.getByText("✗ equals, contains +1")).toBeTruthy();
  });

  it("says an empty output is empty even under a baseline, instead of showing the baseline struck through", async () => {
    mockBackend([cell(10, 0, 0, "Berlin"), cell(11, 1, 0, "")], {
      diff_runs: () => ({ spans: [{ kind: "delete", text: "Berlin" }], similarity: 0 }),
    });
    renderWithClient(<ResultsGrid results={results(2, ["berlin"])} repetition={0} baseline={0} granularity="word" selected={[]} onSelect={noop} />);
    expect(await screen.findByText("(empty)")).toBeTruthy();
    expect(await screen.findByText("≈ 0%")).toBeTruthy();
    expect(document.querySelector('[data-run-id="11"] [data-diff="delete"]')).toBeNull();
  });

  it("diffs every cell against the baseline column of the same case", async () => {
    const calls: unknown[] = [];
    mockBackend([cell(10, 0, 0, "the quick fox"), cell(11, 1, 0, "the slow fox")], {
      diff_runs: (args) => {
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
      },
    });
    const { container } = renderWithClient(
      <ResultsGrid results={results(2, ["one"])} repetition={0} baseline={0} granularity="word" selected={[]} onSelect={noop} />,
    );
    await waitFor(() => expect(container.querySelector('[data-diff="insert"]')?.textContent).toBe("slow"));
    expect(container.querySelector('[data-diff="delete"]')?.textContent).toBe("quick");
    expect(screen.getByText("≈ 75%")).toBeTruthy();
    expect(calls).toEqual([{ baselineRunId: 10, otherRunId: 11, granularity: "word" }]);
    // The baseline cell itself is shown plain, marked as baseline in its header.
    expect(screen.getByText("the quick fox")).toBeTruthy();
    expect(screen.getByText("baseline")).toBeTruthy();
  });

  it("reports clicks on a cell with the cell", async () => {
    const onSelect = vi.fn();
    mockBackend([cell(7, 0, 0, "hi")]);
    renderWithClient(<ResultsGrid results={results(1, ["a"])} repetition={0} baseline={null} granularity="word" selected={[]} onSelect={onSelect} />);
    (await screen.findByText("hi")).click();
    expect(onSelect).toHaveBeenCalledWith(expect.objectContaining({ run_id: 7 }));
  });
});
