import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { DiffView } from "../api";
import { DiffText } from "./DiffText";

const diff: DiffView = {
  spans: [
    { kind: "equal", text: "a " },
    { kind: "delete", text: "<b>old</b>" },
    { kind: "insert", text: "new" },
  ],
  similarity: 0.5,
};

describe("DiffText", () => {
  it("renders both sides inline, or one side for a side-by-side pane", () => {
    expect(render(<DiffText diff={diff} />).container.textContent).toBe("a <b>old</b>new");
    expect(render(<DiffText diff={diff} side="baseline" />).container.textContent).toBe("a <b>old</b>");
    expect(render(<DiffText diff={diff} side="other" />).container.textContent).toBe("a new");
  });

  it("keeps markup in spans as literal text", () => {
    const { container } = render(<DiffText diff={diff} />);
    expect(container.querySelector("b")).toBeNull();
  });
});
