import type { Verdict } from "../bindings";
import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { results } from "../test/fixtures";
import { SummaryTable } from "./SummaryTable";

describe("SummaryTable", () => {
  it("sorts by a column and reverses on a second click", () => {
    const { configs } = results(3);
    const { container } = render(<SummaryTable configs={configs} onExport={vi.fn()} />);
    const order = () => Array.from(container.querySelectorAll("tbody tr")).map((r) => r.getAttribute("data-config"));
    expect(order()).toEqual(["0", "1", "2"]);
    fireEvent.click(screen.getByText("gen tok/s"));
    expect(order()).toEqual(["2", "1", "0"]);
    fireEvent.click(screen.getByText(/gen tok\/s/));
    expect(order()).toEqual(["0", "1", "2"]);
  });

  it("greys out a config the search dropped and says when and why", () => {
    const { configs } = results(2);
    configs[1].eliminated = { config: 1, round: 2, reason: "pass rate ≤ 0.2 at 95% confidence", cases_run: 8 };
    const { container } = render(<SummaryTable configs={configs} onExport={vi.fn()} />);
    const row = container.querySelector('tbody tr[data-config="1"]');
    expect(row?.className).toBe("eliminated");
    expect(row?.getAttribute("title")).toBe("dropped by the search in round 2: pass rate ≤ 0.2 at 95% confidence");
    expect(container.querySelector('tbody tr[data-config="0"]')?.className).toBe("");
  });

  it("exports the config of the row whose button was pressed", () => {
    const onExport = vi.fn();
    render(<SummaryTable configs={results(2).configs} onExport={onExport} />);
    fireEvent.click(screen.getAllByText("Export")[1]);
    expect(onExport).toHaveBeenCalledWith(1);
  });

  it("says faster or slower against the baseline only as far as the interval allows", () => {
    const diff = (estimate_ms: number | null, low_ms: number | null, high_ms: number | null, verdict: Verdict) => ({
      estimate_ms,
      low_ms,
      high_ms,
      verdict,
    });
    const comparisons = [
      { config: 0, latency: diff(0, 0, 0, "no_clear_difference"), ttft: diff(0, 0, 0, "no_clear_difference") },
      { config: 1, latency: diff(-95.2, -120.4, -70.1, "lower"), ttft: diff(-10, -20, -1, "lower") },
      { config: 2, latency: diff(12, -30, 50, "no_clear_difference"), ttft: diff(null, null, null, "too_few_runs") },
    ];
    const { container } = render(<SummaryTable configs={results(3).configs} comparisons={comparisons} baseline={0} onExport={vi.fn()} />);
    const cells = Array.from(container.querySelectorAll("td.versus")).map((c) => c.textContent);
    expect(cells).toEqual(["baseline", "−95 ms [−120, −70] faster", "+12 ms [−30, +50] no clear difference"]);
  });

  it("shows a cache column only when runs came from the response cache", () => {
    const plain = results(2);
    const { unmount } = render(<SummaryTable configs={plain.configs} onExport={() => undefined} />);
    expect(screen.queryByText("cached")).toBeNull();
    unmount();
    const cached = results(2);
    cached.configs[1].cache_hits = 4;
    cached.configs[1].cache_saved_usd = 0.0123;
    render(<SummaryTable configs={cached.configs} onExport={() => undefined} />);
    expect(screen.getByText("cached")).toBeTruthy();
    expect(screen.getByText("4 (saved $0.0123)")).toBeTruthy();
  });

  it("shows a contended column only when other programs slowed some runs", () => {
    const quiet = results(2);
    const { unmount } = render(<SummaryTable configs={quiet.configs} onExport={() => undefined} />);
    expect(screen.queryByText("contended")).toBeNull();
    unmount();
    const busy = results(2);
    busy.configs[0].contended_runs = 1;
    render(<SummaryTable configs={busy.configs} onExport={() => undefined} />);
    expect(screen.getByText("contended")).toBeTruthy();
    expect(screen.getByText("1 of 2")).toBeTruthy();
  });

  it("shows consistency next to quality when configs have repetitions", () => {
    const single = results(2);
    const { unmount } = render(<SummaryTable configs={single.configs} onExport={() => undefined} />);
    expect(screen.queryByText("consistency")).toBeNull();
    unmount();
    const repeated = results(2);
    repeated.configs[0].consistency_similarity = 0.875;
    repeated.configs[0].consistency_exact_rate = 0.5;
    render(<SummaryTable configs={repeated.configs} onExport={() => undefined} />);
    const headers = screen.getAllByRole("columnheader").map((h) => h.textContent ?? "");
    const pass = headers.findIndex((h) => h.startsWith("pass"));
    expect(headers[pass + 1]).toMatch(/^consistency/);
    expect(screen.getByText("0.88 (50% same)")).toBeTruthy();
  });
});
