import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  api,
  errorText,
  type Cell,
  type ComparisonView,
  type DiffGranularity,
  type ExperimentDraft,
  type ExperimentItem,
  type ExperimentView,
  type ProgressEvent,
  type ResultsView,
  type RunOutcome,
} from "./api";
import { ExperimentEditor } from "./components/ExperimentEditor";
import { ExperimentList } from "./components/ExperimentList";
import { ExperimentStatus } from "./components/ExperimentStatus";
import { LocalInferenceBanner, useLocalInference } from "./components/LocalInference";
import { ModelsScreen } from "./components/ModelsScreen";
import { SettingsScreen } from "./components/SettingsScreen";
import { TargetsScreen } from "./components/TargetsScreen";
import { TradeoffCharts } from "./components/TradeoffCharts";
import { WinnerCard } from "./components/WinnerCard";
import { ResultsGrid } from "./components/ResultsGrid";
import { nextProgress, RunProgress, type Progress } from "./components/RunProgress";
import { SideBySide } from "./components/SideBySide";
import { SummaryTable } from "./components/SummaryTable";
import { configLabel } from "./format";

/** While an experiment runs, the grid is refreshed from the database at most this often. */
const LIVE_REFRESH_MS = 2000;

export default function App() {
  const [experiments, setExperiments] = useState<ExperimentItem[]>([]);
  const [path, setPath] = useState("");
  const [opened, setOpened] = useState<ExperimentView | null>(null);
  const [editing, setEditing] = useState<ExperimentDraft | null>(null);
  const [results, setResults] = useState<ResultsView | null>(null);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [message, setMessage] = useState<{ kind: "info" | "error"; text: string } | null>(null);
  const [repetition, setRepetition] = useState(0);
  const [baseline, setBaseline] = useState<number | null>(null);
  const [granularity, setGranularity] = useState<DiffGranularity>("word");
  const [selected, setSelected] = useState<Cell[]>([]);
  const [screen, setScreen] = useState<"experiments" | "models" | "targets" | "settings">("experiments");
  const [comparisons, setComparisons] = useState<{ key: string; data: ComparisonView[] } | null>(null);
  const lastRefresh = useRef(0);
  // The start-up CPU self-test's verdict, for the banner on experiments with local targets.
  const { view: localInference } = useLocalInference();

  // Statistics against the chosen baseline, recomputed when the results or the baseline change.
  const experimentId = results?.experiment_id ?? null;
  const recordedRuns = results?.recorded_runs ?? 0;
  const comparisonKey = experimentId === null || baseline === null ? null : `${experimentId}:${baseline}`;
  useEffect(() => {
    if (experimentId === null || baseline === null || comparisonKey === null) return;
    let current = true;
    api
      .compareConfigs(experimentId, baseline)
      .then((data) => current && setComparisons({ key: comparisonKey, data }))
      .catch((e) => current && setMessage({ kind: "error", text: errorText(e) }));
    return () => {
      current = false;
    };
  }, [experimentId, baseline, comparisonKey, recordedRuns]);
  const shownComparisons = comparisons !== null && comparisons.key === comparisonKey ? comparisons.data : null;

  const refreshList = useCallback(() => {
    api.listExperiments().then(setExperiments).catch((e) => setMessage({ kind: "error", text: errorText(e) }));
  }, []);
  useEffect(refreshList, [refreshList]);

  const showResults = useCallback(async (id: number) => {
    try {
      const view = await api.results(id);
      setResults(view);
      setRepetition((r) => (r < view.repetitions ? r : 0));
    } catch (e) {
      setMessage({ kind: "error", text: errorText(e) });
    }
  }, []);

  const openExperiment = async (file: string) => {
    try {
      const view = await api.openExperiment(file);
      setOpened(view);
      setPath(file);
      setMessage(null);
    } catch (e) {
      setOpened(null);
      setMessage({ kind: "error", text: errorText(e) });
    }
  };

  const edit = async () => {
    if (!opened) return;
    try {
      setEditing(await api.readExperiment(opened.path));
    } catch (e) {
      setMessage({ kind: "error", text: errorText(e) });
    }
  };

  /** The native open dialog; the file chosen is opened at once. */
  const browse = async () => {
    try {
      const chosen = await api.pickOpenPath(false);
      if (chosen !== null) await openExperiment(chosen);
    } catch (e) {
      setMessage({ kind: "error", text: errorText(e) });
    }
  };

  const openQuickstart = async () => {
    try {
      await openExperiment(await api.quickstartFile());
    } catch (e) {
      setMessage({ kind: "error", text: errorText(e) });
    }
  };

  /** Starts an experiment process and follows its progress into the results view. */
  const execute = async (
    start: (onEvent: (event: ProgressEvent) => void) => Promise<RunOutcome>,
    labels: string[],
    cases: string[],
    total: number,
  ) => {
    let experimentId: number | null = null;
    setSelected([]);
    setBaseline(null);
    setProgress({ done: 0, total, startedAt: Date.now(), eta: null, label: "starting", text: "" });
    setMessage(null);
    try {
      const outcome = await start((event) => {
        if (event.kind === "started") {
          experimentId = event.experiment_id;
          void showResults(event.experiment_id);
          refreshList();
        }
        if (event.kind === "run_finished" && experimentId !== null && Date.now() - lastRefresh.current > LIVE_REFRESH_MS) {
          lastRefresh.current = Date.now();
          void showResults(experimentId);
        }
        setProgress((p) => nextProgress(p, event, (i) => labels[i] ?? `config ${i}`, (i) => cases[i] ?? String(i)) ?? p);
      });
      if (outcome.experiment_id !== null) await showResults(outcome.experiment_id);
      setMessage({ kind: "info", text: `Experiment ${outcome.experiment_id ?? ""} ${outcome.status}.` });
    } catch (e) {
      if (experimentId !== null) await showResults(experimentId);
      setMessage({ kind: "error", text: errorText(e) });
    } finally {
      setProgress(null);
      refreshList();
    }
  };

  const run = async () => {
    if (!opened) return;
    await execute((onEvent) => api.runExperiment(opened.path, onEvent), opened.configs, opened.cases, opened.runs);
  };

  /** Runs what an interrupted experiment is missing, into the same experiment. */
  const resume = async (id: number) => {
    let view: ResultsView;
    try {
      view = await api.results(id);
    } catch (e) {
      setMessage({ kind: "error", text: errorText(e) });
      return;
    }
    const missing = Math.max(view.planned_runs - view.recorded_runs, 0);
    await execute((onEvent) => api.resumeExperiment(id, onEvent), view.configs.map(configLabel), view.cases, missing);
  };

  const cancel = () => {
    api.cancelRun().catch((e) => setMessage({ kind: "error", text: errorText(e) }));
  };

  const exportConfig = useCallback(
    (config: number) => {
      if (!results) return;
      const { experiment_id: id, configs } = results;
      api
        .defaultExportPath(id, config)
        .then((target) => api.exportConfig(id, config, target))
        .then((written) => setMessage({ kind: "info", text: `Exported ${configLabel(configs[config])} to ${written}` }))
        .catch((e) => setMessage({ kind: "error", text: errorText(e) }));
    },
    [results],
  );

  const select = useCallback(
    (cell: Cell) =>
      setSelected((s) =>
        s.some((c) => c.run_id === cell.run_id) ? s.filter((c) => c.run_id !== cell.run_id) : [...s, cell].slice(-2),
      ),
    [],
  );

  const selectedIds = useMemo(() => selected.map((c) => c.run_id), [selected]);

  const labelOf = (cell: Cell) =>
    results ? `${configLabel(results.configs[cell.config])} · case ${results.cases[cell.case]}` : `run ${cell.run_id}`;

  return (
    <div className="app">
      <aside className="sidebar">
        <h1>Tradeoff</h1>
        <nav className="screens">
          <button className={screen === "experiments" ? "active" : ""} onClick={() => setScreen("experiments")}>
            Experiments
          </button>
          <button className={screen === "models" ? "active" : ""} onClick={() => setScreen("models")} data-testid="models-button">
            Models
          </button>
          <button className={screen === "targets" ? "active" : ""} onClick={() => setScreen("targets")} data-testid="targets-button">
            Targets
          </button>
          <button className={screen === "settings" ? "active" : ""} onClick={() => setScreen("settings")} data-testid="settings-button">
            Settings
          </button>
        </nav>
        <button
          onClick={() => {
            setScreen("experiments");
            void openQuickstart();
          }}
          data-testid="open-quickstart"
        >
          New from quickstart
        </button>
        <form
          className="open-form"
          onSubmit={(e) => {
            e.preventDefault();
            void openExperiment(path);
          }}
        >
          <input value={path} onChange={(e) => setPath(e.target.value)} placeholder="/path/to/experiment.yaml" aria-label="experiment file" />
          <button type="submit">Open</button>
          <button type="button" onClick={() => void browse()} data-testid="browse-experiment">
            Browse…
          </button>
        </form>
        <h2>Experiments</h2>
        <ExperimentList
          experiments={experiments}
          current={results?.experiment_id ?? null}
          onOpen={(id) => void showResults(id)}
          onResume={(id) => void resume(id)}
          busy={progress !== null}
        />
      </aside>
      <main>
        {screen === "models" && <ModelsScreen />}
        {screen === "targets" && <TargetsScreen />}
        {screen === "settings" && <SettingsScreen />}
        {screen === "experiments" && message && (
          <div className={`message ${message.kind}`} role={message.kind === "error" ? "alert" : "status"} data-testid="message">
            {message.text}
          </div>
        )}
        {screen === "experiments" && opened && (
          <section className="opened" data-testid="opened-experiment">
            <header>
              <strong>{opened.name}</strong>
              <span className="muted">
                {opened.path} · {opened.variants.length} variants × {opened.cases.length} cases · {opened.configs.length} configs · {opened.runs} runs
              </span>
              <button onClick={run} disabled={progress !== null} data-testid="run-button">
                Run
              </button>
              <button onClick={edit} disabled={progress !== null || editing !== null} data-testid="edit-button">
                Edit
              </button>
            </header>
            <LocalInferenceBanner view={localInference} localTargets={opened.local_targets} />
            <div className="variants">
              {opened.variants.map((v) => (
                <details key={v.id}>
                  <summary>
                    {v.id} <span className="badge">{v.format}</span>
                  </summary>
                  {v.templates.map((t, i) => (
                    <pre key={i}>{t}</pre>
                  ))}
                </details>
              ))}
            </div>
          </section>
        )}
        {screen === "experiments" && opened && editing && (
          <ExperimentEditor
            path={opened.path}
            initial={editing}
            onSaved={(view) => {
              setOpened(view);
              setPath(view.path);
              setEditing(null);
              setMessage({ kind: "info", text: `Saved ${view.path}` });
            }}
            onClose={() => setEditing(null)}
          />
        )}
        {screen === "experiments" && progress && <RunProgress progress={progress} onCancel={cancel} />}
        {screen === "experiments" && results && (
          <section className="results" data-testid="results">
            <header className="toolbar">
              <strong>
                #{results.experiment_id} {results.name}
              </strong>
              <ExperimentStatus
                status={results.status}
                recorded={results.recorded_runs}
                planned={results.planned_runs}
                onResume={() => void resume(results.experiment_id)}
                busy={progress !== null}
              />
              <label>
                repetition{" "}
                <select value={repetition} onChange={(e) => setRepetition(Number(e.target.value))} data-testid="repetition">
                  {Array.from({ length: results.repetitions }, (_, i) => (
                    <option key={i} value={i}>
                      {i + 1}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                baseline{" "}
                <select
                  value={baseline ?? ""}
                  onChange={(e) => setBaseline(e.target.value === "" ? null : Number(e.target.value))}
                  data-testid="baseline"
                >
                  <option value="">none</option>
                  {results.configs.map((c) => (
                    <option key={c.index} value={c.index}>
                      {configLabel(c)}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                diff{" "}
                <select value={granularity} onChange={(e) => setGranularity(e.target.value as DiffGranularity)}>
                  <option value="word">words</option>
                  <option value="char">characters</option>
                </select>
              </label>
            </header>
            {results.warnings.map((w) => (
              <div key={w} className="message warning">
                {w}
              </div>
            ))}
            {results.grading.map((line) => (
              <div key={line} className="message" data-testid="grading">
                {line} — graded after the runs, not in the configs&apos; numbers
              </div>
            ))}
            <SummaryTable configs={results.configs} comparisons={shownComparisons} baseline={baseline} onExport={exportConfig} />
            <TradeoffCharts results={results} />
            <WinnerCard key={results.experiment_id} experimentId={results.experiment_id} />
            {selected.length === 2 && (
              <SideBySide
                runs={[selected[0].run_id, selected[1].run_id]}
                labels={[labelOf(selected[0]), labelOf(selected[1])]}
                granularity={granularity}
                onClose={() => setSelected([])}
              />
            )}
            <ResultsGrid
              results={results}
              repetition={repetition}
              baseline={baseline}
              granularity={granularity}
              selected={selectedIds}
              onSelect={select}
            />
          </section>
        )}
        {screen === "experiments" && !opened && !results && (
          <section className="empty">
            <p>Open an experiment file, or start from the quickstart: three prompt variants on the default model.</p>
          </section>
        )}
      </main>
    </div>
  );
}
