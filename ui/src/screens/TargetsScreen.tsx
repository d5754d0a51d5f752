import { useState } from "react";
import { type Endpoint } from "../api";
import { ErrorNote } from "../components/ErrorNote";
import { PROVIDERS, type ProviderKind } from "../bindings";
import { ProviderOptions } from "../components/ProviderOptions";
import { useDeleteEndpoint, useEndpoints, useSaveEndpoint, useTestEndpoint } from "../queries";

/** Where each provider's requests go when the base URL is left empty; OpenAI-compatible servers
 * also run locally. */
function placeholder(provider: (typeof PROVIDERS)[number]): string {
  return provider.id === "openai" ? `${provider.default_base_url} (or http://127.0.0.1:8080/v1)` : provider.default_base_url;
}

const EMPTY: Endpoint = { name: "", provider: "openai", base_url: "", api_key_env: null, model: null, include_usage: true };

/** Remote endpoints: add or edit them, test the connection and see the server's models. */
export function TargetsScreen() {
  const endpoints = useEndpoints();
  const { mutateAsync: saveEndpoint } = useSaveEndpoint();
  const { mutateAsync: deleteEndpoint } = useDeleteEndpoint();
  const connection = useTestEndpoint();
  const probe = connection.data ?? null;
  const [form, setForm] = useState<Endpoint>(EMPTY);
  // What went wrong with the last thing the user did here; a list that does not read is the query's own.
  // A failed connection test keeps its whole cause chain, folded under its one sentence.
  const [actionError, setActionError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const error = actionError ?? endpoints.error;

  const edit = (endpoint: Endpoint) => {
    setForm(endpoint);
    connection.reset();
    setActionError(null);
    setNotice(null);
  };

  const save = async () => {
    setActionError(null);
    try {
      await saveEndpoint(form);
      setNotice(`saved ${form.name}`);
    } catch (e) {
      setActionError(e);
    }
  };

  const remove = async (name: string) => {
    try {
      await deleteEndpoint(name);
      if (form.name === name) setForm(EMPTY);
    } catch (e) {
      setActionError(e);
    }
  };

  const test = () => {
    setActionError(null);
    connection.mutate(form, { onError: setActionError });
  };

  const provider = PROVIDERS.find((p) => p.id === form.provider) ?? PROVIDERS[0];
  return (
    <section className="targets-screen">
      <h2>Targets</h2>
      <p className="muted">
        Remote endpoints for experiments: any OpenAI-compatible server (OpenAI, vLLM, llama-server, Ollama, LM Studio…), Anthropic or
        Gemini. Keys are never stored here: name the environment variable or keyring entry that holds one (Settings).
      </p>
      <table className="endpoints" data-testid="endpoints">
        <thead>
          <tr>
            <th>name</th>
            <th>provider</th>
            <th>base URL</th>
            <th>key variable</th>
            <th>model</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(endpoints.data ?? []).map((e) => (
            <tr key={e.name}>
              <td>{e.name}</td>
              <td>{e.provider}</td>
              <td>{e.base_url}</td>
              <td>{e.api_key_env ?? "—"}</td>
              <td>{e.model ?? "—"}</td>
              <td>
                <button onClick={() => edit(e)}>Edit</button>
                <button onClick={() => remove(e.name)}>Delete</button>
              </td>
            </tr>
          ))}
          {(endpoints.data ?? []).length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                no endpoints yet
              </td>
            </tr>
          )}
        </tbody>
      </table>

      <div className="editor-card endpoint-form">
        <label>
          name <input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} aria-label="endpoint name" />
        </label>
        <label>
          provider{" "}
          <select value={form.provider} onChange={(e) => setForm({ ...form, provider: e.target.value as ProviderKind })} aria-label="endpoint provider">
            <ProviderOptions />
          </select>
        </label>
        <label>
          base URL{" "}
          <input
            value={form.base_url}
            placeholder={placeholder(provider)}
            onChange={(e) => setForm({ ...form, base_url: e.target.value })}
            aria-label="endpoint base_url"
          />
        </label>
        <label>
          key variable{" "}
          <input
            value={form.api_key_env ?? ""}
            placeholder="none (a local server)"
            onChange={(e) => setForm({ ...form, api_key_env: e.target.value || null })}
            aria-label="endpoint api_key_env"
          />
        </label>
        <label>
          model <input value={form.model ?? ""} onChange={(e) => setForm({ ...form, model: e.target.value || null })} aria-label="endpoint model" />
        </label>
        {form.provider === "openai" && (
          <label>
            <input type="checkbox" checked={form.include_usage} onChange={(e) => setForm({ ...form, include_usage: e.target.checked })} /> ask for
            usage in the stream
          </label>
        )}
        <div>
          <button onClick={save} data-testid="save-endpoint">
            Save
          </button>
          <button onClick={test} disabled={connection.isPending} data-testid="test-endpoint">
            {connection.isPending ? "Testing…" : "Test connection"}
          </button>
        </div>
      </div>

      {error ? <ErrorNote error={error} className="error" /> : null}
      {notice && !error && <p className="muted">{notice}</p>}
      {probe && (
        <div className="probe" data-testid="probe">
          <p>
            Connected in {(probe.latency_ms ?? 0).toFixed(0)} ms; {probe.models.length} model{probe.models.length === 1 ? "" : "s"} offered
            {form.model ? (probe.model_listed ? `, ${form.model} among them` : `; ${form.model} is not among them`) : ""}.
          </p>
          <ul className="models-offered">
            {probe.models.map((m) => (
              <li key={m}>
                <button className="link" onClick={() => setForm({ ...form, model: m })}>
                  {m}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
