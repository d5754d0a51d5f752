import { describe, expect, it } from "vitest";
import { niceTicks } from "./chartTicks";

describe("niceTicks", () => {
  it("steps by 1, 2 or 5 times a power of ten and covers the range", () => {
    expect(niceTicks(0, 0.014)).toEqual([0, 0.005, 0.01, 0.015]);
    expect(niceTicks(0, 870)).toEqual([0, 500, 1000]);
    expect(niceTicks(0.3, 0.9)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
  });

  it("gives a usable axis for one value or no finite one", () => {
    expect(niceTicks(5, 5)).toEqual([5, 6]);
    expect(niceTicks(0, Number.NaN)).toEqual([0, 1]);
  });
});
