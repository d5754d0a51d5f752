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

  it("exports the config of the row whose button was pressed", () => {
    const onExport = vi.fn();
    render(<SummaryTable configs={results(2).configs} onExport={onExport} />);
    fireEvent.click(screen.getAllByText("Export")[1]);
    expect(onExport).toHaveBeenCalledWith(1);
  });
});
