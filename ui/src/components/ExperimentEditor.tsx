import { useState } from "react";
import { api, errorText, type ExperimentDraft, type ExperimentView, type TargetDraft } from "../api";
import { KV_TYPES } from "../bindings";
import { useSaveExperiment } from "../queries";
import { PlanPreview } from "./PlanPreview";
import { ProviderOptions } from "./ProviderOptions";

type Variant = ExperimentDraft["variants"][number];
type Case = ExperimentDraft["cases"][number];
type Target = ExperimentDraft["targets"][number];

const words = (text: string) => text.split(/[\s,]+/).filter((w) => w !== "");
const numbers = (text: string) => words(text).map(Number);
const optionalNumber = (text: string) => (text.trim() === "" ? null : Number(text));

/** Forms for an experiment's variants, cases and dimensions; saves YAML or JSON by the path's extension. */
export function ExperimentEditor({
  path,
  initial,
  onSaved,
  onClose,
}: {
  path: string;
  initial: ExperimentDraft;
  onSaved: (view: ExperimentView) => void;
  onClose: () => void;
}) {
  const [draft, setDraft] = useState<ExperimentDraft>(initial);
  const [target, setTarget] = useState(path);
  const [error, setError] = useState<string | null>(null);
  const { mutateAsync: saveExperiment } = useSaveExperiment();
  const variables = Array.from(new Set(draft.cases.flatMap((c) => Object.keys(c.vars)))).sort();

  const setVariant = (i: number, change: Partial<Variant>) =>
    setDraft((d) => ({ ...d, variants: d.variants.map((v, j) => (j === i ? { ...v, ...change } : v)) }));
  const setCase = (i: number, change: Partial<Case>) =>
    setDraft((d) => ({ ...d, cases: d.cases.map((c, j) => (j === i ? { ...c, ...change } : c)) }));
  const setTargetField = (i: number, change: Partial<Target>) =>
    setDraft((d) => ({ ...d, targets: d.targets.map((t, j) => (j === i ? { ...t, ...change } : t)) }));

  const save = async () => {
    try {
      setError(null);
      onSaved(await saveExperiment({ path: target, draft }));
    } catch (e) {
      setError(errorText(e));
    }
  };

  /** Saving outside the data folder needs the user's choice in the native dialog. */
  const choose = async () => {
    try {
      setError(null);
      const chosen = await api.pickSavePath(target);
      if (chosen !== null) setTarget(chosen);
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <section className="editor" data-testid="editor">
      <header>
        <strong>Edit experiment</strong>
        <label>
          name <input value={draft.name ?? ""} onChange={(e) => setDraft({ ...draft, name: e.target.value || null })} />
        </label>
        <label>
          repetitions{" "}
          <input
            type="number"
            min={1}
            value={draft.repetitions}
            onChange={(e) => setDraft({ ...draft, repetitions: Number(e.target.value) })}
            aria-label="repetitions"
          />
        </label>
      </header>
      {error && (
        <div className="message error" role="alert">
          {error}
        </div>
      )}

      <h3>Variants</h3>
      {draft.variants.map((v, i) => (
        <div key={i} className="editor-card">
          <input value={v.id} onChange={(e) => setVariant(i, { id: e.target.value })} aria-label={`variant ${i + 1} id`} />
          {v.prompt !== null && v.prompt !== undefined ? (
            <label>
              prompt (raw completion)
              <textarea value={v.prompt} onChange={(e) => setVariant(i, { prompt: e.target.value })} aria-label={`variant ${v.id} prompt`} />
            </label>
          ) : (
            <>
              <label>
                system
                <textarea value={v.system ?? ""} onChange={(e) => setVariant(i, { system: e.target.value || null })} aria-label={`variant ${v.id} system`} />
              </label>
              {v.messages.length > 0 && <span className="muted">{v.messages.length} few-shot messages kept as they are</span>}
              <label>
                user
                <textarea value={v.user ?? ""} onChange={(e) => setVariant(i, { user: e.target.value || null })} aria-label={`variant ${v.id} user`} />
              </label>
            </>
          )}
          <button onClick={() => setDraft({ ...draft, variants: draft.variants.filter((_, j) => j !== i) })}>Remove</button>
        </div>
      ))}
      <button
        onClick={() =>
          setDraft({
            ...draft,
            variants: [...draft.variants, { id: `variant${draft.variants.length + 1}`, description: null, system: null, messages: [], user: null, prompt: "" }],
          })
        }
      >
        Add variant
      </button>

      <h3>Cases</h3>
      <table className="editor-cases">
        <thead>
          <tr>
            <th>id</th>
            {variables.map((name) => (
              <th key={name}>{name}</th>
            ))}
            <th>expected</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {draft.cases.map((c, i) => (
            <tr key={i}>
              <td>
                <input value={c.id ?? ""} onChange={(e) => setCase(i, { id: e.target.value || null })} aria-label={`case ${i + 1} id`} />
              </td>
              {variables.map((name) => (
                <td key={name}>
                  <textarea
                    value={c.vars[name] ?? ""}
                    onChange={(e) => setCase(i, { vars: { ...c.vars, [name]: e.target.value } })}
                    aria-label={`case ${i + 1} ${name}`}
                  />
                </td>
              ))}
              <td>
                <textarea value={c.expected ?? ""} onChange={(e) => setCase(i, { expected: e.target.value || null })} aria-label={`case ${i + 1} expected`} />
              </td>
              <td>
                <button onClick={() => setDraft({ ...draft, cases: draft.cases.filter((_, j) => j !== i) })}>Remove</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        onClick={() =>
          setDraft({ ...draft, cases: [...draft.cases, { id: null, vars: Object.fromEntries(variables.map((n) => [n, ""])), expected: null, checks: "[]" }] })
        }
      >
        Add case
      </button>

      <h3>Checks</h3>
      <label className="editor-checks">
        every case&apos;s runs must pass (JSON list: contains, not_contains, icontains, equals, starts_with, regex, json_valid,
        json_schema, max_tokens, similarity, latency_ms, cost_usd, judge)
        <textarea value={draft.checks} onChange={(e) => setDraft({ ...draft, checks: e.target.value })} aria-label="checks" />
      </label>

      <label className="editor-checks">
        graders for judge checks (JSON list of targets, e.g. [{"{"}&quot;id&quot;: &quot;grader&quot;, &quot;provider&quot;: &quot;openai&quot;,
        &quot;model&quot;: &quot;gpt-4o-mini&quot;{"}"}] or a local model; graded after the runs, their cost kept apart)
        <textarea value={draft.graders} onChange={(e) => setDraft({ ...draft, graders: e.target.value })} aria-label="graders" />
      </label>

      <label className="editor-checks">
        objective (JSON: constraints such as &quot;pass_rate &gt;= 0.9&quot;, &quot;p95_latency_ms &lt;= 800&quot;; order of cheapest, fastest,
        best_score)
        <input value={draft.objective} onChange={(e) => setDraft({ ...draft, objective: e.target.value })} aria-label="objective" />
      </label>

      <label>
        response cache{" "}
        <select value={draft.cache ?? "off"} onChange={(e) => setDraft({ ...draft, cache: e.target.value })} aria-label="cache">
          <option value="off">off (every run calls the model)</option>
          <option value="read_write">read_write (reuse stored answers, store new ones)</option>
          <option value="refresh">refresh (call again, replace stored answers)</option>
        </select>
      </label>

      <h3>Targets</h3>
      {draft.targets.map((t, i) => (
        <div key={i} className="editor-card editor-target">
          <label>
            id <input value={t.id} onChange={(e) => setTargetField(i, { id: e.target.value })} />
          </label>
          <label>
            provider{" "}
            <select
              value={t.provider ?? "local"}
              onChange={(e) => setTargetField(i, providerChange(e.target.value))}
              aria-label={`target ${t.id} provider`}
            >
              <option value="local">local GGUF</option>
              <ProviderOptions />
            </select>
          </label>
          <label>
            model <input value={t.model} onChange={(e) => setTargetField(i, { model: e.target.value })} aria-label={`target ${t.id} model`} />
          </label>
          {t.provider ? (
            <>
              <label>
                base_url{" "}
                <input
                  value={t.base_url ?? ""}
                  placeholder="provider default"
                  onChange={(e) => setTargetField(i, { base_url: e.target.value || null })}
                  aria-label={`target ${t.id} base_url`}
                />
              </label>
              <label>
                key variable{" "}
                <input
                  value={t.api_key_env ?? ""}
                  placeholder="OPENAI_API_KEY"
                  onChange={(e) => setTargetField(i, { api_key_env: e.target.value || null })}
                  aria-label={`target ${t.id} api_key_env`}
                />
              </label>
              <label>
                max concurrency{" "}
                <input
                  value={t.max_concurrency ?? ""}
                  onChange={(e) => setTargetField(i, { max_concurrency: optionalNumber(e.target.value) })}
                  aria-label={`target ${t.id} max_concurrency`}
                />
              </label>
              <label>
                extra body (JSON){" "}
                <input
                  value={t.extra_body}
                  placeholder='{"cache_prompt": false}'
                  onChange={(e) => setTargetField(i, { extra_body: e.target.value })}
                  aria-label={`target ${t.id} extra_body`}
                />
              </label>
              <label>
                requests/min{" "}
                <input
                  value={t.requests_per_minute ?? ""}
                  onChange={(e) => setTargetField(i, { requests_per_minute: optionalNumber(e.target.value) })}
                  aria-label={`target ${t.id} requests_per_minute`}
                />
              </label>
            </>
          ) : (
            <label>
              n_ctx{" "}
              <input
                defaultValue={t.n_ctx.join(", ")}
                onBlur={(e) => setTargetField(i, { n_ctx: numbers(e.target.value) })}
                aria-label={`target ${t.id} n_ctx`}
              />
            </label>
          )}
          <label>
            temperature{" "}
            <input value={t.temperature ?? ""} onChange={(e) => setTargetField(i, { temperature: optionalNumber(e.target.value) })} />
          </label>
          <label>
            max_tokens{" "}
            <input value={t.max_tokens ?? ""} onChange={(e) => setTargetField(i, { max_tokens: optionalNumber(e.target.value) })} />
          </label>
          {!t.provider && (
            <>
              <label>
                threads{" "}
                <input
                  defaultValue={t.threads.join(", ")}
                  onBlur={(e) => setTargetField(i, { threads: numbers(e.target.value) })}
                  aria-label={`target ${t.id} threads`}
                />
              </label>
              <label>
                KV cache{" "}
                <input
                  defaultValue={t.kv_type.join(", ")}
                  placeholder={KV_TYPES.join(", ")}
                  onBlur={(e) => setTargetField(i, { kv_type: words(e.target.value) })}
                  aria-label={`target ${t.id} kv_type`}
                />
              </label>
            </>
          )}
          <label>
            price (JSON){" "}
            <input
              value={t.price}
              placeholder='{"per_hour": 0.35}'
              onChange={(e) => setTargetField(i, { price: e.target.value })}
              aria-label={`target ${t.id} price`}
            />
          </label>
          <label>
            stop (JSON list){" "}
            <input
              defaultValue={JSON.stringify(t.stop)}
              onBlur={(e) => {
                try {
                  const stop = JSON.parse(e.target.value);
                  if (Array.isArray(stop)) setTargetField(i, { stop: stop.map(String) });
                } catch {
                  setError(`target ${t.id}: stop must be a JSON list such as ["\\n"]`);
                }
              }}
            />
          </label>
        </div>
      ))}

      <PlanPreview path={target} draft={draft} />

      <footer>
        <input value={target} onChange={(e) => setTarget(e.target.value)} aria-label="save as" />
        <button onClick={() => void choose()} data-testid="choose-save-path">
          Choose…
        </button>
        <button onClick={save} data-testid="save-experiment">
          Save
        </button>
        <button onClick={onClose}>Close</button>
        <span className="muted">
          .yaml or .json; comments in the original file are not kept; outside the data folder, choose the file with Choose…
        </span>
      </footer>
    </section>
  );
}

/** Switching between a local model and a remote API clears the other kind's settings, which the
 * experiment file would refuse on this kind of target. */
function providerChange(value: string): Partial<TargetDraft> {
  if (value === "local") {
    return {
      provider: null,
      base_url: null,
      api_key_env: null,
      max_concurrency: null,
      requests_per_minute: null,
      max_attempts: null,
      timeout: null,
      include_usage: null,
      extra_body: "",
    };
  }
  return { provider: value, n_ctx: [], threads: [], batch: [], kv_type: [], n_gpu_layers: [], parallel: [], prefix_cache: [], chat_template: null };
}
