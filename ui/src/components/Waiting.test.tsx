import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WAIT_MS, Waiting } from "./Waiting";

describe("Waiting", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("says what a load waits for only once it has taken longer than a moment, and goes when it ends", () => {
    const { rerender } = render(<Waiting active what="reading the model library" />);
    expect(screen.queryByTestId("waiting")).toBeNull();
    act(() => vi.advanceTimersByTime(WAIT_MS + 1));
    expect(screen.getByTestId("waiting").textContent).toBe("reading the model library");
    rerender(<Waiting active={false} what="reading the model library" />);
    expect(screen.queryByTestId("waiting")).toBeNull();
    // The next load starts its delay again.
    rerender(<Waiting active what="reading the model library" />);
    expect(screen.queryByTestId("waiting")).toBeNull();
  });
});
