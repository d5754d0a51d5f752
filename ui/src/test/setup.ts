import { afterEach } from "vitest";
import { cleanup } from "@testing-library/react";
import { clearMocks } from "@tauri-apps/api/mocks";

// jsdom lays nothing out; the virtualized grid needs a viewport to decide which rows to render.
for (const [name, value] of [
  ["offsetHeight", 800],
  ["clientHeight", 800],
  ["offsetWidth", 1200],
  ["clientWidth", 1200],
] as const) {
  Object.defineProperty(HTMLElement.prototype, name, { configurable: true, get: () => value });
}
HTMLElement.prototype.getBoundingClientRect = function () {
  // Grid rows measure as 150 px high, everything else as an 800 px viewport.
  const height = this.hasAttribute("data-index") ? 150 : 800;
  return { x: 0, y: 0, top: 0, left: 0, bottom: height, right: 1200, width: 1200, height, toJSON: () => ({}) };
};
HTMLElement.prototype.scrollTo = function () {};

afterEach(() => {
  cleanup();
  clearMocks();
});
