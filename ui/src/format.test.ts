import { describe, expect, it } from "vitest";
import { dollars, signedDollars } from "./format";

describe("dollars", () => {
  it("shows a fraction of a cent with the digits it needs, never as $0.0000 or $-0.0000", () => {
    expect(dollars(0.0000123)).toBe("$0.000012");
    expect(dollars(-0.0000123)).toBe("−$0.000012");
    expect(dollars(0.1234)).toBe("$0.1234");
    expect(dollars(0)).toBe("$0");
    expect(dollars(null)).toBe("—");
  });

  it("signs a difference either way", () => {
    expect(signedDollars(0.0012)).toBe("+$0.0012");
    expect(signedDollars(-0.000034)).toBe("−$0.000034");
  });
});
