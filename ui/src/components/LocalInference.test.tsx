import { render, screen, waitFor } from "@testing-library/react";
import { mockIPC } from "@tauri-apps/api/mocks";
import { describe, expect, it } from "vitest";
import type { LocalInference } from "../api";
import { LocalInferenceBanner, LocalInferenceStatus } from "./LocalInference";
import { renderWithClient } from "../test/render";

const FAILURE =
  "no CPU variant decoded: sapphirerapids (AMX_INT8 AVX512) killed by signal 4 (SIGILL)\nhaswell (AVX2) killed by signal 4 (SIGILL)\nset TRADEOFF_CPU_BACKEND=<variant> to choose one";

/** Answers `local_inference` with each view in turn, then the last one forever. */
function answers(...views: LocalInference[]) {
  let asked = 0;
  mockIPC((cmd) => {
    if (cmd !== "local_inference") throw new Error(cmd);
    return views[Math.min(asked++, views.length - 1)];
  });
  return () => asked;
}

describe("LocalInferenceStatus", () => {
  it("says checking while the self-test runs and the verdict once it arrives", async () => {
    const asked = answers({ state: "checking" }, { state: "verified", variant: "zen4", features: ["AVX2", "AVX512", "AVX512_BF16"] });
    renderWithClient(<LocalInferenceStatus pollMs={10} />);
    expect(screen.getByRole("heading", { name: "Local inference" })).toBeTruthy();
    expect(screen.getByTestId("local-inference-status").textContent).toMatch(/^Checking…/);
    await waitFor(() =>
      expect(screen.getByTestId("local-inference-status").textContent).toBe(
        "Verified on zen4 (AVX2 AVX512 AVX512_BF16) by a test decode on this machine",
      ),
    );
    // Once known, the verdict is not asked for again.
    const after = asked();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(asked()).toBe(after);
  });

  it("shows the self-test's whole error text as text when it failed", async () => {
    answers({ state: "failed", message: `${FAILURE}\n<img src=x onerror=alert(1)>` });
    renderWithClient(<LocalInferenceStatus />);
    const status = await screen.findByRole("alert");
    expect(status.textContent).toContain("Local models cannot run on this machine");
    expect(status.textContent).toContain("sapphirerapids (AMX_INT8 AVX512) killed by signal 4 (SIGILL)");
    expect(status.textContent).toContain("TRADEOFF_CPU_BACKEND");
    expect(status.querySelector("img")).toBeNull();
  });

  it("says why nothing was checked when the default model is missing", async () => {
    answers({ state: "not_checked", reason: "the default model is missing at /data/models/gemma.gguf, so no test decode ran" });
    renderWithClient(<LocalInferenceStatus />);
    await waitFor(() => expect(screen.getByTestId("local-inference-status").textContent).toMatch(/^Not checked: the default model is missing/));
  });
});

describe("LocalInferenceBanner", () => {
  it("tells the run screen that local targets cannot run here only when the self-test failed", () => {
    const failed: LocalInference = { state: "failed", message: FAILURE };
    const { rerender } = render(<LocalInferenceBanner view={failed} localTargets={["gemma-270m-q4"]} />);
    const banner = screen.getByTestId("local-inference-banner");
    expect(banner.textContent).toContain("Local targets cannot run on this machine (gemma-270m-q4)");
    expect(banner.textContent).toContain("killed by signal 4");

    rerender(<LocalInferenceBanner view={failed} localTargets={[]} />);
    expect(screen.queryByTestId("local-inference-banner")).toBeNull();
    rerender(<LocalInferenceBanner view={{ state: "verified", variant: "haswell", features: ["AVX2"] }} localTargets={["gemma-270m-q4"]} />);
    expect(screen.queryByTestId("local-inference-banner")).toBeNull();
    rerender(<LocalInferenceBanner view={{ state: "checking" }} localTargets={["gemma-270m-q4"]} />);
    expect(screen.queryByTestId("local-inference-banner")).toBeNull();
  });
});
