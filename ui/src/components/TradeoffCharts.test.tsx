import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { results } from "../test/fixtures";
import { TradeoffCharts } from "./TradeoffCharts";

describe("TradeoffCharts", () => {
  it("plots every config against quality with the Pareto front apart, and every run's latency", () => {
    const view = results(3);
    view.configs[1].cost_per_1k_usd = 0.02;
    view.configs[0].cost_per_1k_usd = 0.01;
    view.configs[2].cost_per_1k_usd = 0.03;
    view.pareto_front = [0];
    const { container } = render(<TradeoffCharts results={view} />);
    const pareto = screen.getByTestId("pareto-chart");
    expect(pareto.textContent).toContain("cost per 1,000 requests");
    const series = pareto.querySelectorAll(".recharts-scatter");
    expect(series).toHaveLength(2);
    expect(series[0].querySelectorAll(".recharts-scatter-symbol")).toHaveLength(1);
    expect(series[1].querySelectorAll(".recharts-scatter-symbol")).toHaveLength(2);
    const latency = screen.getByTestId("latency-chart");
    expect(latency.querySelectorAll(".recharts-scatter-symbol")).toHaveLength(6);
    expect(container.textContent).not.toContain("needs checks");
    // Points carry their row number, and the key says which config each number is.
    expect(pareto.textContent).toContain("#1");
    const key = screen.getByTestId("chart-key");
    expect(key.textContent).toContain("#1 fewshot");
    expect(key.querySelectorAll("li.front")).toHaveLength(1);
  });

  it("asks for checks when there is no quality to plot", () => {
    const view = results(2);
    view.configs.forEach((c) => (c.pass_rate = null));
    render(<TradeoffCharts results={view} />);
    expect(screen.getByTestId("charts").textContent).toContain("add checks");
    expect(screen.queryByTestId("pareto-chart")).toBeNull();
  });
});
