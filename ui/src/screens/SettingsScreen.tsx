import { useState } from "react";
import { errorText } from "../api";
import { PROVIDERS, type KeyState } from "../bindings";
import { LocalInferenceStatus } from "../components/LocalInference";
import { PriceTable } from "../components/PriceTable";
import { useDeleteApiKey, useEndpoints, useKeyStatuses, useSetApiKey } from "../queries";

/** The providers' own key variables, shown even before an endpoint names them. */
const DEFAULT_VARIABLES = PROVIDERS.flatMap((p) => (p.default_key_variable ? [p.default_key_variable] : []));

const SOURCE_TEXT: Record<KeyState, string> = {
  environment: "set in the environment (wins over the keyring)",
  keyring: "stored in the OS keyring",
  missing: "not set",
  unavailable: "the OS keyring cannot be reached",
};

/** API keys: stored in the OS keyring under the variable names targets use. A key is sent to
 * the backend once and never shown again. */
export function SettingsScreen() {
  const endpoints = useEndpoints();
  // Variables the user added with "another variable", after the defaults and those the kept endpoints name.
  const [added, setAdded] = useState<string[]>([]);
  const named = (endpoints.data ?? []).map((e) => e.api_key_env).filter((v): v is string => !!v);
  const variables = [...new Set([...DEFAULT_VARIABLES, ...named, ...added])];
  const statuses = useKeyStatuses(endpoints.data === undefined ? null : variables);
  const { mutateAsync: setApiKey } = useSetApiKey();
  const { mutateAsync: deleteApiKey } = useDeleteApiKey();
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [extra, setExtra] = useState("");
  const [actionError, setActionError] = useState<string | null>(null);
  const readError = endpoints.error ?? statuses.error;
  const keyringReason = (statuses.data ?? []).find((s) => s.source === "unavailable")?.message ?? null;
  const error = actionError ?? (readError ? errorText(readError) : null);

  const store = async (variable: string) => {
    setActionError(null);
    try {
      await setApiKey({ variable, key: drafts[variable] ?? "" });
      setDrafts({ ...drafts, [variable]: "" });
    } catch (e) {
      setActionError(errorText(e));
    }
  };

  const forget = async (variable: string) => {
    setActionError(null);
    try {
      await deleteApiKey(variable);
    } catch (e) {
      setActionError(errorText(e));
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
      {keyringReason && (
        <p className="message warning" data-testid="keyring-unavailable">
          The OS keyring cannot be reached ({keyringReason}): keys cannot be stored here, and keys in environment variables still work.
        </p>
      )}
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
          {(statuses.data ?? []).map((s) => (
            <tr key={s.variable}>
              <td>
                <code>{s.variable}</code>
              </td>
              <td data-testid={`key-status-${s.variable}`}>
                {SOURCE_TEXT[s.source]}
                {/* The keyring's own failure is said once, above the table, not once per variable. */}
                {s.message && s.source !== "unavailable" && <div className="muted key-reason">{s.message}</div>}
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
                <button
                  onClick={() => store(s.variable)}
                  disabled={s.source === "unavailable" || !(drafts[s.variable] ?? "").trim()}
                  title={
                    s.source === "unavailable"
                      ? "the OS keyring cannot be reached: set the environment variable instead"
                      : (drafts[s.variable] ?? "").trim()
                        ? undefined
                        : "type the key first"
                  }
                >
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
            setAdded([...added, extra.trim()]);
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
