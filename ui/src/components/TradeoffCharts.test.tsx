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

  it("draws pass rate against input tokens per budget, a line per variant and strategy", () => {
    const view = results(4);
    view.configs.forEach((c, i) => {
      c.pass_rate = [0, 0.9, 0.5, 0.9][i];
      c.input_tokens_mean = [40, 80, 38, 79][i];
    });
    view.budget = {
      var: "passage",
      configs: [
        { variant: "fewshot", tokens: 16, strategy: "head" },
        { variant: "fewshot", tokens: 64, strategy: "head" },
        { variant: "fewshot", tokens: 16, strategy: "relevant" },
        { variant: "fewshot", tokens: 64, strategy: "relevant" },
      ],
    };
    render(<TradeoffCharts results={view} />);
    const chart = screen.getByTestId("budget-chart");
    expect(chart.textContent).toContain("per passage budget");
    expect(chart.querySelectorAll(".recharts-scatter")).toHaveLength(2);
    expect(chart.querySelectorAll(".recharts-scatter-symbol")).toHaveLength(4);
    expect(chart.textContent).toContain("fewshot · relevant");
  });

  it("draws no budget chart for an experiment without a budget", () => {
    render(<TradeoffCharts results={results(2)} />);
    expect(screen.queryByTestId("budget-chart")).toBeNull();
  });
});
