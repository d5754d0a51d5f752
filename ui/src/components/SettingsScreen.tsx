import { useEffect, useState } from "react";
import { api, errorText, type KeyStatus } from "../api";
import { LocalInferenceStatus } from "./LocalInference";
import { PriceTable } from "./PriceTable";

const DEFAULT_VARIABLES = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"];

const SOURCE_TEXT: Record<string, string> = {
  environment: "set in the environment (wins over the keyring)",
  keyring: "stored in the OS keyring",
  missing: "not set",
  unavailable: "the OS keyring cannot be reached",
};

/** The default variables, those the kept endpoints name, and `more`. */
async function statusesOf(more: string[]): Promise<KeyStatus[]> {
  const endpoints = await api.listEndpoints();
  const named = endpoints.map((e) => e.api_key_env).filter((v): v is string => !!v);
  return api.keyStatus([...new Set([...DEFAULT_VARIABLES, ...named, ...more])]);
}

/** API keys: stored in the OS keyring under the variable names targets use. A key is sent to
 * the backend once and never shown again. */
export function SettingsScreen() {
  const [statuses, setStatuses] = useState<KeyStatus[]>([]);
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [extra, setExtra] = useState("");
  const [error, setError] = useState<string | null>(null);

  const refresh = async (more: string[] = []) => {
    try {
      setStatuses(await statusesOf(more));
    } catch (e) {
      setError(errorText(e));
    }
  };

  useEffect(() => {
    statusesOf([]).then(setStatuses, (e) => setError(errorText(e)));
  }, []);

  const store = async (variable: string) => {
    setError(null);
    try {
      await api.setApiKey(variable, drafts[variable] ?? "");
      setDrafts({ ...drafts, [variable]: "" });
      await refresh(statuses.map((s) => s.variable));
    } catch (e) {
      setError(errorText(e));
    }
  };

  const forget = async (variable: string) => {
    setError(null);
    try {
      await api.deleteApiKey(variable);
      await refresh(statuses.map((s) => s.variable));
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <section className="settings-screen">
      <h2>Settings</h2>
      <LocalInferenceStatus />
      <h3>API keys</h3>
      <p className="muted">
        Targets name a variable (<code>api_key_env</code>); its key comes from the environment or from the OS keyring entry of that name. Keys
        are never written to the database, exports, reports or logs.
      </p>
      <table className="keys" data-testid="keys">
        <thead>
          <tr>
            <th>variable</th>
            <th>status</th>
            <th>key</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {statuses.map((s) => (
            <tr key={s.variable}>
              <td>
                <code>{s.variable}</code>
              </td>
              <td data-testid={`key-status-${s.variable}`}>
                {SOURCE_TEXT[s.source] ?? s.source}
                {s.message && <div className="muted key-reason">{s.message}; the environment variable still works</div>}
              </td>
              <td>
                <input
                  type="password"
                  autoComplete="off"
                  value={drafts[s.variable] ?? ""}
                  onChange={(e) => setDrafts({ ...drafts, [s.variable]: e.target.value })}
                  aria-label={`key for ${s.variable}`}
                />
              </td>
              <td>
                <button onClick={() => store(s.variable)} disabled={!(drafts[s.variable] ?? "").trim()}>
                  Store in keyring
                </button>
                {s.source === "keyring" && <button onClick={() => forget(s.variable)}>Remove</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <label>
        another variable{" "}
        <input value={extra} onChange={(e) => setExtra(e.target.value)} placeholder="GROQ_API_KEY" aria-label="another variable" />
        <button
          onClick={() => {
            void refresh([...statuses.map((s) => s.variable), extra.trim()]);
            setExtra("");
          }}
          disabled={!extra.trim()}
        >
          Add
        </button>
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <PriceTable />
    </section>
  );
}
