import { PROVIDERS } from "../bindings";

/** The `<option>`s of a provider menu, from the engine's own list of providers. */
export function ProviderOptions() {
  return (
    <>
      {PROVIDERS.map((p) => (
        <option key={p.id} value={p.id}>
          {p.label}
        </option>
      ))}
    </>
  );
}
