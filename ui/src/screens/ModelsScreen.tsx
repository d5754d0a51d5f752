import { useState } from "react";
import { api, type ModelView, type QuantizeProgress } from "../api";
import { ErrorNote } from "../components/ErrorNote";
import { Waiting } from "../components/Waiting";
import { useAddModelSource, useModels, useQuantizeModel } from "../queries";

/** Types offered for quantization; llama.cpp's full list is in `tradeoff quantize --help`. */
const TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0"];
const UNQUANTIZED = ["F32", "F16", "BF16"];

function size(bytes: number | null): string {
  if (bytes === null) return "—";
  return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : `${(bytes / (1 << 20)).toFixed(0)} MiB`;
}

type Job = { done: number; total: number; typeName: string; notes: string[] };

/** The model library: every GGUF file Tradeoff knows, read from headers, and quantization. */
export function ModelsScreen() {
  const models = useModels();
  const { mutateAsync: addSource } = useAddModelSource();
  const { mutateAsync: quantizeModel } = useQuantizeModel();
  // What went wrong with the last thing the user did here; a library that does not read is the query's own.
  const [actionError, setActionError] = useState<unknown>(null);
  const [source, setSource] = useState("");
  const [quantizing, setQuantizing] = useState<ModelView | null>(null);
  const [types, setTypes] = useState<string[]>(["Q8_0"]);
  // The files the last quantization wrote, until its panel is closed.
  const [written, setWritten] = useState<string[] | null>(null);
  const [allowRequantize, setAllowRequantize] = useState(false);
  const [job, setJob] = useState<Job | null>(null);
  const error = actionError ?? models.error;

  const add = async () => {
    try {
      await addSource(source);
      setSource("");
      setActionError(null);
    } catch (e) {
      setActionError(e);
    }
  };

  /** The native open dialog for a model file or a folder of them; the choice goes into the field. */
  const browse = async (folder: boolean) => {
    try {
      const chosen = await api.pickOpenPath(folder);
      if (chosen !== null) setSource(chosen);
    } catch (e) {
      setActionError(e);
    }
  };

  const quantize = async (model: ModelView) => {
    setJob({ done: 0, total: 0, typeName: types[0] ?? "", notes: [] });
    setActionError(null);
    setWritten(null);
    const onEvent = (event: QuantizeProgress) =>
      setJob((j) => {
        const current = j ?? { done: 0, total: 0, typeName: "", notes: [] };
        if (event.kind === "progress") return { ...current, done: event.done, total: event.total, typeName: event.type_name };
        if (event.kind === "quantized")
          return { ...current, notes: [...current.notes, `${event.type_name}: ${size(event.file_size_bytes)}`, ...event.warnings] };
        return { ...current, notes: [...current.notes, `${event.type_name ?? "quantize"} failed: ${event.message}`] };
      });
    try {
      // The panel stays, saying what was written and how to use it, until it is closed.
      const wanted = types.filter((t) => t !== model.quantization);
      setWritten(await quantizeModel({ source: model.path, types: wanted, allowRequantize, onEvent }));
    } catch (e) {
      setActionError(e);
    } finally {
      setJob(null);
    }
  };

  const quantized = (m: ModelView) => m.quantization !== null && !UNQUANTIZED.includes(m.quantization);
  // Why Start cannot be pressed now, said beside it.
  const chosen = quantizing ? types.filter((t) => t !== quantizing.quantization) : [];
  const whyNot =
    quantizing === null
      ? null
      : job !== null
        ? "a quantization is running"
        : chosen.length === 0
          ? "choose at least one type"
          : quantized(quantizing) && !allowRequantize
            ? `this model is already ${quantizing.quantization}: tick requantize to make another type from it`
            : null;

  return (
    <section className="models" data-testid="models-screen">
      <header className="toolbar">
        <strong>Models</strong>
        <form
          className="open-form"
          onSubmit={(e) => {
            e.preventDefault();
            void add();
          }}
        >
          <input value={source} onChange={(e) => setSource(e.target.value)} placeholder="/path/to/model.gguf or a folder" aria-label="model file or folder" />
          <button type="button" onClick={() => void browse(false)}>
            File…
          </button>
          <button type="button" onClick={() => void browse(true)}>
            Folder…
          </button>
          <button type="submit" disabled={source.trim() === ""}>
            Add
          </button>
        </form>
      </header>
      {error ? <ErrorNote error={error} /> : null}
      <Waiting
        active={models.isPending}
        what="reading the model library: each file's header, and the sha256 of a file not seen before (seconds for a large model)"
      />
      <table className="summary models-table">
        <thead>
          <tr>
            <th>model</th>
            <th>arch</th>
            <th>params</th>
            <th>quant</th>
            <th>trained ctx</th>
            <th>size</th>
            <th>chat template</th>
            <th>origin</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(models.data ?? []).map((m) => (
            <tr key={m.path} title={m.path}>
              <td>{m.name}</td>
              {m.error ? (
                <td colSpan={7} className="cell-error">
                  {m.error}
                </td>
              ) : (
                <>
                  <td>{m.architecture ?? "—"}</td>
                  <td>{m.parameters_m === null ? "—" : `${m.parameters_m.toFixed(0)}M`}</td>
                  <td>{m.quantization ?? "—"}</td>
                  <td>{m.trained_context ?? "—"}</td>
                  <td>{size(m.file_size_bytes)}</td>
                  <td>{m.has_chat_template ? "yes" : "none (base model)"}</td>
                  <td>{m.origin ?? ""}</td>
                </>
              )}
              <td>
                <button onClick={() => setQuantizing(m)} disabled={m.error !== null || job !== null} aria-label={`quantize ${m.name}`}>
                  Quantize…
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {quantizing && (
        <div className="editor-card quantize-panel" data-testid="quantize-panel">
          <strong>Quantize {quantizing.name}</strong>
          {/* Into its own type would only copy it. */}
          {TYPES.filter((t) => t !== quantizing.quantization).map((t) => (
            <label key={t} className="inline">
              <input
                type="checkbox"
                checked={types.includes(t)}
                onChange={(e) => setTypes((ts) => (e.target.checked ? [...ts, t] : ts.filter((x) => x !== t)))}
              />
              {t}
            </label>
          ))}
          {quantized(quantizing) && (
            <label className="inline">
              <input type="checkbox" checked={allowRequantize} onChange={(e) => setAllowRequantize(e.target.checked)} />
              requantize from {quantizing.quantization} (quality loss compounds; results are labelled)
            </label>
          )}
          <button onClick={() => void quantize(quantizing)} disabled={whyNot !== null} title={whyNot ?? undefined} data-testid="quantize-start">
            Start
          </button>
          <button
            onClick={() => {
              setQuantizing(null);
              setWritten(null);
            }}
            disabled={job !== null}
          >
            Close
          </button>
          {whyNot && job === null && (
            <span className="muted" data-testid="quantize-why-not">
              {whyNot}
            </span>
          )}
          {written && (
            <div className="quantize-done" role="status" data-testid="quantize-done">
              Done — wrote {written.join(", ")}. Use it in an experiment as a target&apos;s <code>model</code> (the file&apos;s path); it is
              in the library above.
            </div>
          )}
          {job && (
            <div className="quantize-progress" role="status">
              {job.typeName} {job.done}/{job.total || "?"} tensors
              <progress value={job.done} max={job.total || 1} />
            </div>
          )}
          {job?.notes.map((n) => (
            <div key={n} className="muted">
              {n}
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
