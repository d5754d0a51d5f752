import { useCallback, useMemo, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { type Cell, type DiffGranularity, type ExperimentDraft } from "../api";
import { ErrorDetails } from "../components/ErrorNote";
import { ExperimentEditor } from "../components/ExperimentEditor";
import { ExperimentStatus } from "../components/ExperimentStatus";
import { LocalInferenceBanner } from "../components/LocalInference";
import { ResultsGrid } from "../components/ResultsGrid";
import { HistoryView } from "../components/HistoryView";
import { RoutingView } from "../components/RoutingView";
import { RunProgress } from "../components/RunProgress";
import { SideBySide } from "../components/SideBySide";
import { SummaryTable } from "../components/SummaryTable";
import { TradeoffCharts } from "../components/TradeoffCharts";
import { WinnerCard } from "../components/WinnerCard";
import { configLabel } from "../format";
import {
  draftQuery,
  useComparisons,
  useExperimentFile,
  useExperiments,
  useExportConfig,
  useLocalInference,
  useResults,
} from "../queries";
import { errorMessage, useWorkspace } from "./ExperimentWorkspace";
import { FirstScreen } from "./FirstScreen";

/** The views of an experiment's results, one at a time so the grid can have the screen's height. */
type ResultsTab = "grid" | "summary" | "charts" | "routing" | "winner" | "history";
const RESULTS_TABS: [ResultsTab, string][] = [
  ["grid", "Grid"],
  ["summary", "Summary"],
  ["charts", "Charts"],
  ["routing", "Routing"],
  ["winner", "Winner"],
  ["history", "History"],
];

/** The experiment opened, its editor, the run in progress and the results shown. It stays mounted
 * while another screen is shown, rendering nothing, so the editor, the repetition, the baseline
 * and the cells picked are as they were when the user comes back. */
export function ExperimentsScreen({ active }: { active: boolean }) {
  const client = useQueryClient();
  const workspace = useWorkspace();
  const { progress, message, notify } = workspace;
  const experiments = useExperiments();
  const opened = useExperimentFile(workspace.openedPath).data ?? null;
  const resultsQuery = useResults(workspace.shownId);
  const results = resultsQuery.data ?? null;
  // The start-up CPU self-test's verdict, for the banner on experiments with local targets.
  const localInference = useLocalInference().data ?? null;
  const { mutateAsync: exportConfig } = useExportConfig();

  const [editing, setEditing] = useState<ExperimentDraft | null>(null);
  const [repetition, setRepetition] = useState(0);
  const [baseline, setBaseline] = useState<number | null>(null);
  const [granularity, setGranularity] = useState<DiffGranularity>("word");
  const [selected, setSelected] = useState<Cell[]>([]);
  const [tab, setTab] = useState<ResultsTab>("grid");

  // A run that starts clears the baseline and the cells picked, which were about the results before it.
  const runStartedAt = progress?.startedAt ?? null;
  const [seenRun, setSeenRun] = useState(runStartedAt);
  if (runStartedAt !== seenRun) {
    setSeenRun(runStartedAt);
    if (runStartedAt !== null) {
      setSelected([]);
      setBaseline(null);
    }
  }

  // Statistics against the chosen baseline, read again when the results are.
  const comparisons = useComparisons(results?.experiment_id ?? 0, results ? baseline : null);
  const shownRepetition = results !== null && repetition < results.repetitions ? repetition : 0;

  const readError = comparisons.error ?? resultsQuery.error ?? experiments.error;
  const shownMessage = message ?? (readError ? errorMessage(readError) : null);

  const edit = async () => {
    if (!opened) return;
    try {
      setEditing(await client.query(draftQuery(opened.path)));
    } catch (e) {
      notify(errorMessage(e));
    }
  };

  const onExport = useCallback(
    (config: number) => {
      if (!results) return;
      const { experiment_id: id, configs } = results;
      exportConfig({ id, config }).then(
        (written) => notify({ kind: "info", text: `Exported ${configLabel(configs[config])} to ${written}` }),
        (e) => notify(errorMessage(e)),
      );
    },
    [results, exportConfig, notify],
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

  if (!active) return null;
  return (
    <>
      {shownMessage && (
        <div className={`message ${shownMessage.kind}`} role={shownMessage.kind === "error" ? "alert" : "status"} data-testid="message">
          {shownMessage.text}
        </div>
      )}
      <ErrorDetails details={shownMessage?.details} />
      {opened && (
        <section className="opened" data-testid="opened-experiment">
          <header>
            <strong>{opened.name}</strong>
            <span className="muted">
              {opened.path} · {opened.variants.length} variants × {opened.cases.length} cases · {opened.configs.length} configs · {opened.runs} runs
            </span>
            <button onClick={() => void workspace.run(opened)} disabled={progress !== null} data-testid="run-button">
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
      {opened && editing && (
        <ExperimentEditor
          path={opened.path}
          initial={editing}
          onSaved={(view) => {
            workspace.saved(view);
            setEditing(null);
          }}
          onClose={() => setEditing(null)}
        />
      )}
      {progress && <RunProgress progress={progress} onCancel={workspace.cancel} />}
      {results && (
        <section className="results" data-testid="results">
          <header className="toolbar">
            <strong>
              #{results.experiment_id} {results.name}
            </strong>
            <ExperimentStatus
              status={results.status}
              recorded={results.recorded_runs}
              planned={results.planned_runs}
              onResume={() => void workspace.resume(results.experiment_id)}
              busy={progress !== null}
            />
            <label>
              repetition{" "}
              <select value={shownRepetition} onChange={(e) => setRepetition(Number(e.target.value))} data-testid="repetition">
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
          <nav className="results-tabs" role="tablist" aria-label="results views">
            {RESULTS_TABS.map(([id, label]) => (
              <button key={id} role="tab" aria-selected={tab === id} className={tab === id ? "active" : ""} onClick={() => setTab(id)} data-testid={`tab-${id}`}>
                {label}
              </button>
            ))}
          </nav>
          {tab === "grid" && (
            <>
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
                repetition={shownRepetition}
                baseline={baseline}
                granularity={granularity}
                selected={selectedIds}
                onSelect={select}
              />
            </>
          )}
          {tab === "summary" && (
            <SummaryTable configs={results.configs} comparisons={comparisons.data ?? null} baseline={baseline} onExport={onExport} />
          )}
          {tab === "charts" && <TradeoffCharts results={results} />}
          {/* Kept mounted, so the cascade being built stays while another view is looked at; it
              simulates only while shown: a simulation reads every run, which a running experiment
              should not pay for on each refresh. */}
          <div hidden={tab !== "routing"}>
            <RoutingView key={results.experiment_id} results={results} active={tab === "routing"} />
          </div>
          {tab === "history" && <HistoryView key={results.experiment_id} experimentId={results.experiment_id} />}
          {/* Kept mounted: the objective typed and the decision stay while another view is looked at. */}
          <div hidden={tab !== "winner"}>
            <WinnerCard key={results.experiment_id} experimentId={results.experiment_id} />
          </div>
        </section>
      )}
      {!opened && !results && !progress && <FirstScreen />}
    </>
  );
}
