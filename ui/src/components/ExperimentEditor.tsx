import { useEffect, useRef, useState } from "react";
import { api, BackendError, errorText, type ExperimentDraft, type ExperimentView, type TargetDraft } from "../api";
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
  // The field a refused save is about, as far as the form shows it, and what is wrong with it.
  const [invalid, setInvalid] = useState<Invalid | null>(null);
  const editorRef = useRef<HTMLElement>(null);
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
      setInvalid(null);
      onSaved(await saveExperiment({ path: target, draft }));
    } catch (e) {
      setError(errorText(e));
      const field = e instanceof BackendError ? e.field : null;
      setInvalid(field ? shownField(editorRef.current, field.path, field.message) : null);
    }
  };

  // The field a refused save is about comes into view with the cursor in it.
  useEffect(() => {
    if (!invalid) return;
    const place = editorRef.current?.querySelector<HTMLElement>(`[data-field="${quoted(invalid.path)}"]`);
    const input = place?.matches("input, textarea, select") ? place : place?.querySelector<HTMLElement>("input, textarea, select");
    input?.focus();
    place?.scrollIntoView?.({ block: "center" });
  }, [invalid]);

  /** Marks an input as the field `path` of the experiment file, for a refused save to point at. */
  const field = (path: string) => ({ "data-field": path, "aria-invalid": invalid?.path === path ? true : undefined });
  const note = (under: string) => <FieldNote invalid={invalid} under={under} />;

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
    <section className="editor" data-testid="editor" ref={editorRef}>
      <header>
        <strong>Edit experiment</strong>
        <label>
          name <input value={draft.name ?? ""} onChange={(e) => setDraft({ ...draft, name: e.target.value || null })} {...field("name")} />
        </label>
        <label>
          repetitions{" "}
          <input
            type="number"
            min={1}
            value={draft.repetitions}
            onChange={(e) => setDraft({ ...draft, repetitions: Number(e.target.value) })}
            aria-label="repetitions"
            {...field("repetitions")}
          />
        </label>
        {note("name")}
        {note("repetitions")}
      </header>

      <h3>Variants</h3>
      {draft.variants.map((v, i) => (
        <div key={i} className="editor-card" {...field(`variants[${i}]`)}>
          {note(`variants[${i}]`)}
          <input value={v.id} onChange={(e) => setVariant(i, { id: e.target.value })} aria-label={`variant ${i + 1} id`} {...field(`variants[${i}].id`)} />
          {v.prompt !== null && v.prompt !== undefined ? (
            <label>
              prompt (raw completion)
              <textarea value={v.prompt} onChange={(e) => setVariant(i, { prompt: e.target.value })} aria-label={`variant ${v.id} prompt`} {...field(`variants[${i}].prompt`)} />
            </label>
          ) : (
            <>
              <label>
                system
                <textarea value={v.system ?? ""} onChange={(e) => setVariant(i, { system: e.target.value || null })} aria-label={`variant ${v.id} system`} {...field(`variants[${i}].system`)} />
              </label>
              {v.messages.length > 0 && <span className="muted">{v.messages.length} few-shot messages kept as they are</span>}
              <label>
                user
                <textarea value={v.user ?? ""} onChange={(e) => setVariant(i, { user: e.target.value || null })} aria-label={`variant ${v.id} user`} {...field(`variants[${i}].user`)} />
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
            <tr key={i} {...field(`cases[${i}]`)}>
              <td>
                {note(`cases[${i}]`)}
                <input value={c.id ?? ""} onChange={(e) => setCase(i, { id: e.target.value || null })} aria-label={`case ${i + 1} id`} {...field(`cases[${i}].id`)} />
              </td>
              {variables.map((name) => (
                <td key={name}>
                  <textarea
                    value={c.vars[name] ?? ""}
                    onChange={(e) => setCase(i, { vars: { ...c.vars, [name]: e.target.value } })}
                    aria-label={`case ${i + 1} ${name}`}
                    {...field(`cases[${i}].vars.${name}`)}
                  />
                </td>
              ))}
              <td>
                <textarea value={c.expected ?? ""} onChange={(e) => setCase(i, { expected: e.target.value || null })} aria-label={`case ${i + 1} expected`} {...field(`cases[${i}].expected`)} />
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
        <textarea value={draft.checks} onChange={(e) => setDraft({ ...draft, checks: e.target.value })} aria-label="checks" {...field("checks")} />
        {note("checks")}
      </label>

      <label className="editor-checks">
        graders for judge checks (JSON list of targets, e.g. [{"{"}&quot;id&quot;: &quot;grader&quot;, &quot;provider&quot;: &quot;openai&quot;,
        &quot;model&quot;: &quot;gpt-4o-mini&quot;{"}"}] or a local model; graded after the runs, their cost kept apart)
        <textarea value={draft.graders} onChange={(e) => setDraft({ ...draft, graders: e.target.value })} aria-label="graders" {...field("graders")} />
        {note("graders")}
      </label>

      <label className="editor-checks">
        routing policies (JSON list of cascades and routes over these configs, simulated with `tradeoff route`, e.g. [{"{"}&quot;id&quot;:
        &quot;small-first&quot;, &quot;cascade&quot;: [...]{"}"}]; see the README, &quot;Routing&quot;)
        <textarea value={draft.policies} onChange={(e) => setDraft({ ...draft, policies: e.target.value })} aria-label="policies" {...field("policies")} />
        {note("policies")}
      </label>

      <label className="editor-checks">
        search (JSON: &quot;strategy&quot;: grid, racing or halving; racing drops a config once it is confidently out, e.g.
        {"{"}&quot;strategy&quot;: &quot;racing&quot;, &quot;confidence&quot;: 0.95, &quot;batch&quot;: 5{"}"}; empty: every run of the grid)
        <textarea value={draft.search} onChange={(e) => setDraft({ ...draft, search: e.target.value })} aria-label="search" {...field("search")} />
        {note("search")}
      </label>

      <label className="editor-checks">
        context budget (JSON: a case variable cut to each token count before rendering, each budget a config, e.g.{" "}
        {"{"}&quot;var&quot;: &quot;document&quot;, &quot;tokens&quot;: [128, 512], &quot;strategy&quot;: [&quot;head&quot;,
        &quot;relevant&quot;], &quot;query&quot;: &quot;question&quot;{"}"}; empty: none)
        <textarea value={draft.budget} onChange={(e) => setDraft({ ...draft, budget: e.target.value })} aria-label="budget" {...field("budget")} />
        {note("budget")}
      </label>

      <label className="editor-checks">
        objective (JSON: constraints such as &quot;pass_rate &gt;= 0.9&quot;, &quot;p95_latency_ms &lt;= 800&quot;; order of cheapest, fastest,
        best_score)
        <input value={draft.objective} onChange={(e) => setDraft({ ...draft, objective: e.target.value })} aria-label="objective" {...field("objective")} />
        {note("objective")}
      </label>

      <label>
        response cache{" "}
        <select value={draft.cache ?? "off"} onChange={(e) => setDraft({ ...draft, cache: e.target.value })} aria-label="cache" {...field("cache")}>
          <option value="off">off (every run calls the model)</option>
          <option value="read_write">read_write (reuse stored answers, store new ones)</option>
          <option value="refresh">refresh (call again, replace stored answers)</option>
        </select>
      </label>

      <h3>Targets</h3>
      {draft.targets.map((t, i) => (
        <div key={i} className="editor-card editor-target" {...field(`targets[${i}]`)}>
          {note(`targets[${i}]`)}
          <label>
            id <input value={t.id} onChange={(e) => setTargetField(i, { id: e.target.value })} {...field(`targets[${i}].id`)} />
          </label>
          <label>
            provider{" "}
            <select
              value={t.provider ?? "local"}
              onChange={(e) => setTargetField(i, providerChange(e.target.value))}
              aria-label={`target ${t.id} provider`}
              {...field(`targets[${i}].provider`)}
            >
              <option value="local">local GGUF</option>
              <ProviderOptions />
            </select>
          </label>
          <label>
            model <input value={t.model} onChange={(e) => setTargetField(i, { model: e.target.value })} aria-label={`target ${t.id} model`} {...field(`targets[${i}].model`)} />
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
              {...field(`targets[${i}].base_url`)}
                />
              </label>
              <label>
                key variable{" "}
                <input
                  value={t.api_key_env ?? ""}
                  placeholder="OPENAI_API_KEY"
                  onChange={(e) => setTargetField(i, { api_key_env: e.target.value || null })}
                  aria-label={`target ${t.id} api_key_env`}
              {...field(`targets[${i}].api_key_env`)}
                />
              </label>
              <label>
                max concurrency{" "}
                <input
                  value={t.max_concurrency ?? ""}
                  onChange={(e) => setTargetField(i, { max_concurrency: optionalNumber(e.target.value) })}
                  aria-label={`target ${t.id} max_concurrency`}
              {...field(`targets[${i}].max_concurrency`)}
                />
              </label>
              <label>
                extra body (JSON){" "}
                <input
                  value={t.extra_body}
                  placeholder='{"cache_prompt": false}'
                  onChange={(e) => setTargetField(i, { extra_body: e.target.value })}
                  aria-label={`target ${t.id} extra_body`}
              {...field(`targets[${i}].extra_body`)}
                />
              </label>
              <label>
                requests/min{" "}
                <input
                  value={t.requests_per_minute ?? ""}
                  onChange={(e) => setTargetField(i, { requests_per_minute: optionalNumber(e.target.value) })}
                  aria-label={`target ${t.id} requests_per_minute`}
              {...field(`targets[${i}].requests_per_minute`)}
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
              {...field(`targets[${i}].n_ctx`)}
              />
            </label>
          )}
          <label>
            temperature{" "}
            <input value={t.temperature ?? ""} onChange={(e) => setTargetField(i, { temperature: optionalNumber(e.target.value) })} {...field(`targets[${i}].temperature`)} />
          </label>
          <label>
            max_tokens{" "}
            <input value={t.max_tokens ?? ""} onChange={(e) => setTargetField(i, { max_tokens: optionalNumber(e.target.value) })} {...field(`targets[${i}].max_tokens`)} />
          </label>
          {!t.provider && (
            <>
              <label>
                threads{" "}
                <input
                  defaultValue={t.threads.join(", ")}
                  onBlur={(e) => setTargetField(i, { threads: numbers(e.target.value) })}
                  aria-label={`target ${t.id} threads`}
              {...field(`targets[${i}].threads`)}
                />
              </label>
              <label>
                KV cache{" "}
                <input
                  defaultValue={t.kv_type.join(", ")}
                  placeholder={KV_TYPES.join(", ")}
                  onBlur={(e) => setTargetField(i, { kv_type: words(e.target.value) })}
                  aria-label={`target ${t.id} kv_type`}
              {...field(`targets[${i}].kv_type`)}
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
              {...field(`targets[${i}].price`)}
            />
          </label>
          <label>
            stop (JSON list){" "}
            <input
              defaultValue={JSON.stringify(t.stop)}
              {...field(`targets[${i}].stop`)}
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
        {error && (
          <p className="message error" role="alert" data-testid="save-error">
            {error}
          </p>
        )}
        <span className="muted">
          .yaml or .json; comments in the original file are not kept; outside the data folder, choose the file with Choose…
        </span>
      </footer>
    </section>
  );
}

type Invalid = { path: string; message: string };

/** The most precise place the form shows for the experiment file's field `path` (`targets[0].n_ctx[1]`
 * is shown at `targets[0].n_ctx`; a field the form has no input for, at its card). */
function shownField(root: HTMLElement | null, path: string, message: string): Invalid | null {
  const shown = Array.from(root?.querySelectorAll<HTMLElement>("[data-field]") ?? [], (e) => e.dataset.field ?? "");
  const best = shown.filter((f) => f !== "" && within(path, f)).sort((a, b) => b.length - a.length)[0];
  return best === undefined ? null : { path: best, message };
}

/** Whether field `path` is `place` or a part of it (`targets[0].n_ctx[1]` is within `targets[0]`). */
function within(path: string, place: string): boolean {
  return path === place || path.startsWith(`${place}.`) || path.startsWith(`${place}[`);
}

/** An attribute value inside double quotes in a CSS selector. */
function quoted(value: string): string {
  return value.replace(/["\\]/g, (c) => `\\${c}`);
}

/** What is wrong, shown in the card or section of the field it is about. */
function FieldNote({ invalid, under }: { invalid: Invalid | null; under: string }) {
  if (invalid === null || !within(invalid.path, under)) return null;
  return (
    <span className="field-error" data-testid="field-error">
      {invalid.message}
    </span>
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
      logprobs: null,
      extra_body: "",
    };
  }
  return { provider: value, n_ctx: [], threads: [], batch: [], kv_type: [], n_gpu_layers: [], parallel: [], prefix_cache: [], chat_template: null };
}
