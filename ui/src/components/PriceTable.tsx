import { useState } from "react";
import { errorText } from "../api";
import { usePrices, useSavePriceOverrides } from "../queries";
import { Waiting } from "./Waiting";

const EXAMPLE = `{
  "schema": 1,
  "models": [
    {"provider": "openai", "model": "gpt-4o-mini", "input_per_mtok": 0.1, "output_per_mtok": 0.5,
     "source": "our contract", "as_of": "2026-11"}
  ]
}`;

const money = (v: number | null) => (v === null ? "—" : `$${v}`);

/** The price table in force and the user's overrides, editable; a save that does not read as a
 * price file is refused and the overrides in force stay. */
export function PriceTable() {
  const query = usePrices();
  const prices = query.data ?? null;
  const { mutateAsync: saveOverrides } = useSavePriceOverrides();
  // Null until the user edits: then the overrides in force are shown.
  const [edited, setEdited] = useState<string | null>(null);
  const text = edited ?? prices?.overrides_text ?? "";
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const error = saveError ?? (query.error ? errorText(query.error) : null);

  const save = async () => {
    setSaveError(null);
    setSaved(false);
    try {
      await saveOverrides(text);
      setSaved(true);
    } catch (e) {
      setSaveError(errorText(e));
    }
  };

  return (
    <section className="price-table" data-testid="prices">
      <h3>Prices</h3>
      <Waiting active={query.isPending} what="reading the price table (built in, and the data folder's prices.json)" />
      <p className="muted">
        Facts per hosted model (USD per million tokens). A target&apos;s own <code>price</code> wins; otherwise its model&apos;s entry here
        is used and recorded with the experiment.
      </p>
      {prices?.problem && (
        <p className="error" role="alert" data-testid="prices-problem">
          {prices.problem} — experiments that need prices are refused until it reads again (the built-in table is shown); fix it below.
        </p>
      )}
      {prices && (
        <table className="keys">
          <thead>
            <tr>
              <th>provider</th>
              <th>model</th>
              <th>input</th>
              <th>output</th>
              <th>cached input</th>
              <th>context</th>
              <th>as of</th>
              <th>from</th>
            </tr>
          </thead>
          <tbody>
            {prices.entries.map((e) => (
              <tr key={`${e.provider}/${e.model}`} data-testid="price-row">
                <td>{e.provider}</td>
                <td>{e.model}</td>
                <td>{money(e.input_per_mtok)}</td>
                <td>{money(e.output_per_mtok)}</td>
                <td>{money(e.cached_input_per_mtok)}</td>
                <td>{e.context_window ?? "—"}</td>
                <td>{e.as_of}</td>
                <td title={e.source}>{e.origin === "built-in" ? "built-in" : "your overrides"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <label className="editor-checks">
        your overrides ({prices?.overrides_path ?? "prices.json"}; same format, empty for none)
        <textarea value={text} placeholder={EXAMPLE} onChange={(e) => setEdited(e.target.value)} aria-label="price overrides" rows={6} />
      </label>
      <button onClick={save} data-testid="save-prices">
        Save overrides
      </button>
      {saved && <span className="muted"> saved</span>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
