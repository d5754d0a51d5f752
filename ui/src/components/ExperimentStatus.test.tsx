import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { ExperimentStatus } from "./ExperimentStatus";

describe("ExperimentStatus", () => {
  it("says how many planned runs an interrupted experiment recorded and offers Resume", () => {
    const onResume = vi.fn();
    render(<ExperimentStatus status="interrupted" recorded={31} planned={48} onResume={onResume} busy={false} />);
    expect(screen.getByTestId("experiment-status").textContent).toBe("interrupted — 31 of 48 runs recorded");
    fireEvent.click(screen.getByTestId("resume-button"));
    expect(onResume).toHaveBeenCalledTimes(1);
  });

  it("offers no Resume for a completed or running experiment, and waits while another one runs", () => {
    const { rerender } = render(<ExperimentStatus status="completed" recorded={48} planned={48} onResume={() => {}} busy={false} />);
    expect(screen.getByTestId("experiment-status").textContent).toBe("completed");
    expect(screen.queryByTestId("resume-button")).toBeNull();
    rerender(<ExperimentStatus status="running" recorded={3} planned={48} onResume={() => {}} busy={false} />);
    expect(screen.getByTestId("experiment-status").textContent).toBe("running — 3 of 48 runs recorded");
    expect(screen.queryByTestId("resume-button")).toBeNull();
    rerender(<ExperimentStatus status="interrupted" recorded={3} planned={48} onResume={() => {}} busy={true} />);
    expect((screen.getByTestId("resume-button") as HTMLButtonElement).disabled).toBe(true);
  });
});
