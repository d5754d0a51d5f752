import type { ReactElement, ReactNode } from "react";
import { QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import { createQueryClient } from "../queries";

/** Renders `ui` with a query cache of its own, so no test sees another's answers. */
export function renderWithClient(ui: ReactElement) {
  const client = createQueryClient();
  // The app's client already does not retry; a test must not wait on a retry either way.
  client.setDefaultOptions({ queries: { ...client.getDefaultOptions().queries, retry: false }, mutations: { retry: false } });
  const wrapper = ({ children }: { children: ReactNode }) => <QueryClientProvider client={client}>{children}</QueryClientProvider>;
  return { client, ...render(ui, { wrapper }) };
}
