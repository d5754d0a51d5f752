// Typed access to the backend: unwraps tauri-specta's result objects into values or thrown AppErrors.
import { Channel } from "@tauri-apps/api/core";
import { commands } from "./bindings";
import type {
  AppError_Serialize,
  ErrorCode,
  GridCell_Serialize,
  ComparisonView_Serialize,
  Diff,
  Granularity,
  ExperimentDraft_Serialize,
  ExperimentItem,
  ExperimentHistory_Serialize,
  LoadTestItem,
  LoadTestView_Serialize,
  LoadRunRequest,
  CapacityRequest_Deserialize,
  CapacityPlan_Serialize,
  Endpoint_Serialize,
  ExperimentView,
  KeyStatus_Serialize,
  LocalInferenceView,
  ModelView_Serialize,
  MonitorView_Serialize,
  MonitorWindow,
  Preflight_Serialize,
  PricesView_Serialize,
  ProbeView,
  ProgressEvent_Deserialize,
  QuantizeProgress_Deserialize,
  ResultsView_Serialize,
  RunOutcomeView_Serialize,
  WinnerView_Serialize,
  RoutingReport_Serialize,
  ServingView,
  TrendPoint_Serialize,
} from "./bindings";

export type AppError = AppError_Serialize;
// Events travel Rust → UI; the generated `_Deserialize` shape is what the channel is typed with.
export type ProgressEvent = ProgressEvent_Deserialize;
export type ResultsView = ResultsView_Serialize;
export type Cell = GridCell_Serialize;
// The editor's draft as the backend sends it; the same shape is accepted back.
export type ExperimentDraft = ExperimentDraft_Serialize;
export type TargetDraft = ExperimentDraft["targets"][number];
export type ModelView = ModelView_Serialize;
export type QuantizeProgress = QuantizeProgress_Deserialize;
export type ComparisonView = ComparisonView_Serialize;
export type Endpoint = Endpoint_Serialize;
export type KeyStatus = KeyStatus_Serialize;
export type Probe = ProbeView;
export type Winner = WinnerView_Serialize;
export type Routing = RoutingReport_Serialize;
export type ExperimentHistory = ExperimentHistory_Serialize;
export type LoadTest = LoadTestView_Serialize;
export type LoadLevel = LoadTest["levels"][number];
export type CapacityPlan = CapacityPlan_Serialize;
export type CapacityRequest = CapacityRequest_Deserialize;
export type { LoadTestItem, LoadRunRequest };
export type RoutingOutcome = Routing["policies"][number];
export type PlanView = Preflight_Serialize;
export type Prices = PricesView_Serialize;
export type RunOutcome = RunOutcomeView_Serialize;
export type LocalInference = LocalInferenceView;
export type Monitor = MonitorView_Serialize;
export type Serving = ServingView;
export type TrendPoint = TrendPoint_Serialize;
export type { MonitorWindow };
export type { ExperimentItem, ExperimentView };
export type DiffView = Diff;
export type DiffGranularity = Granularity;

export class BackendError extends Error {
  readonly code: ErrorCode;
  readonly details: string | null;
  /** The experiment file's field a refused experiment is about, for forms to point at. */
  readonly field: AppError["field"];
  constructor(error: AppError) {
    super(error.message);
    this.code = error.code;
    this.details = error.details;
    this.field = error.field ?? null;
  }
}

async function unwrap<T>(result: Promise<{ status: "ok"; data: T } | { status: "error"; error: AppError }>): Promise<T> {
  const r = await result;
  if (r.status === "error") throw new BackendError(r.error);
  return r.data;
}

export const api = {
  listExperiments: () => unwrap<ExperimentItem[]>(commands.listExperiments()),
  quickstartFile: () => unwrap<string>(commands.quickstartFile()),
  openExperiment: (path: string) => unwrap<ExperimentView>(commands.openExperiment(path)),
  readExperiment: (path: string) => unwrap<ExperimentDraft>(commands.readExperiment(path)),
  saveExperiment: (path: string, draft: ExperimentDraft) => unwrap<ExperimentView>(commands.saveExperiment(path, draft)),
  /** Tokens, context fit, memory and cost bound of a draft, before it runs. */
  planExperiment: (path: string, draft: ExperimentDraft) => unwrap<PlanView>(commands.planExperiment(path, draft)),
  runExperiment: (path: string, onEvent: (event: ProgressEvent) => void) => {
    const channel = new Channel<ProgressEvent>();
    channel.onmessage = onEvent;
    return unwrap<RunOutcomeView_Serialize>(commands.runExperiment(path, channel));
  },
  /** Runs the missing runs of an interrupted or cancelled experiment into the same experiment. */
  resumeExperiment: (experimentId: number, onEvent: (event: ProgressEvent) => void) => {
    const channel = new Channel<ProgressEvent>();
    channel.onmessage = onEvent;
    return unwrap<RunOutcomeView_Serialize>(commands.resumeExperiment(experimentId, channel));
  },
  cancelRun: () => unwrap<boolean>(commands.cancelRun()),
  results: (experimentId: number) => unwrap<ResultsView>(commands.results(experimentId)),
  compareConfigs: (experimentId: number, baseline: number) =>
    unwrap<ComparisonView[]>(commands.compareConfigs(experimentId, baseline)),
  gridPage: (experimentId: number, repetition: number, firstCase: number, caseCount: number) =>
    unwrap<Cell[]>(commands.gridPage(experimentId, repetition, firstCase, caseCount)),
  runOutput: (runId: number) => unwrap<string>(commands.runOutput(runId)),
  diffRuns: (baseline: number, other: number, granularity: DiffGranularity) =>
    unwrap<DiffView>(commands.diffRuns(baseline, other, granularity)),
  /** A config's export file, or with `config` null the winner file. */
  defaultExportPath: (experimentId: number, config: number | null) =>
    unwrap<string>(commands.defaultExportPath(experimentId, config)),
  exportConfig: (experimentId: number, config: number, path: string) =>
    unwrap<string>(commands.exportConfig(experimentId, config, path)),
  listModels: () => unwrap<ModelView[]>(commands.listModels()),
  addModelSource: (path: string) => unwrap<ModelView[]>(commands.addModelSource(path)),
  quantizeModel: (source: string, types: string[], allowRequantize: boolean, onEvent: (event: QuantizeProgress) => void) => {
    const channel = new Channel<QuantizeProgress>();
    channel.onmessage = onEvent;
    return unwrap<string[]>(commands.quantizeModel(source, types, allowRequantize, channel));
  },
  winner: (experimentId: number, objective: string) => unwrap<Winner>(commands.winner(experimentId, objective)),
  /** The experiment file's policies and `extra` ones (a JSON list), simulated on the recorded runs. */
  simulateRouting: (experimentId: number, extra: string) => unwrap<Routing>(commands.simulateRouting(experimentId, extra)),
  experimentHistory: (experimentId: number) => unwrap<ExperimentHistory>(commands.experimentHistory(experimentId)),
  runLoadTest: (request: LoadRunRequest, onLine: (line: string) => void) => {
    const channel = new Channel<string>();
    channel.onmessage = onLine;
    return unwrap<number>(commands.runLoadTest(request, channel));
  },
  listLoadTests: () => unwrap<LoadTestItem[]>(commands.listLoadTests()),
  loadTest: (id: number) => unwrap<LoadTest>(commands.loadTest(id)),
  planLoadCapacity: (id: number, request: CapacityRequest) => unwrap<CapacityPlan | null>(commands.planLoadCapacity(id, request)),
  exportPolicies: (experimentId: number, policies: string, path: string) =>
    unwrap<string>(commands.exportPolicies(experimentId, policies, path)),
  defaultPolicyPath: (experimentId: number) => unwrap<string>(commands.defaultPolicyPath(experimentId)),
  exportWinner: (experimentId: number, objective: string, path: string) =>
    unwrap<string>(commands.exportWinner(experimentId, objective, path)),
  listEndpoints: () => unwrap<Endpoint[]>(commands.listEndpoints()),
  saveEndpoint: (endpoint: Endpoint) => unwrap<Endpoint[]>(commands.saveEndpoint(endpoint)),
  deleteEndpoint: (name: string) => unwrap<Endpoint[]>(commands.deleteEndpoint(name)),
  testEndpoint: (endpoint: Endpoint) => unwrap<Probe>(commands.testEndpoint(endpoint)),
  prices: () => unwrap<Prices>(commands.prices()),
  /** Replaces the price overrides (a price file as JSON; empty removes them) once it reads as one. */
  savePriceOverrides: (text: string) => unwrap<Prices>(commands.savePriceOverrides(text)),
  keyStatus: (variables: string[]) => unwrap<KeyStatus[]>(commands.keyStatus(variables)),
  setApiKey: (variable: string, key: string) => unwrap<KeyStatus>(commands.setApiKey(variable, key)),
  deleteApiKey: (variable: string) => unwrap<KeyStatus>(commands.deleteApiKey(variable)),
  /** The native save dialog at `suggested`; the path chosen (which exports and saves may then
   * write), or null when cancelled. */
  pickSavePath: (suggested: string) => unwrap<string | null>(commands.pickSavePath(suggested)),
  /** The native open dialog for a file, or a folder; null when cancelled. */
  pickOpenPath: (folder: boolean) => unwrap<string | null>(commands.pickOpenPath(folder)),
  /** The start-up CPU self-test's verdict: checking, verified, failed or not checked. */
  localInference: () => unwrap<LocalInference>(commands.localInference()),
  /** A served deployment's traffic over the last hour, day or week, beside the winner as measured. */
  monitor: (deployment: number | null, window: MonitorWindow) => unwrap<Monitor>(commands.monitor(deployment, window)),
  /** Serves the experiment's winner with `tradeoff serve` (replacing the server running); once it listens. */
  serveWinner: (experimentId: number, objective: string) => unwrap<Serving>(commands.serveWinner(experimentId, objective)),
  stopServing: () => unwrap<null>(commands.stopServing()),
  servingStatus: () => unwrap<Serving | null>(commands.servingStatus()),
};

/** What the backend kept beyond the sentence (a cause chain, a worker's stderr), if anything. */
export function errorDetails(error: unknown): string | null {
  return error instanceof BackendError ? error.details : null;
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
