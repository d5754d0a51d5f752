// The query cache over the backend: every read is a query under one of these keys, every write a
// mutation that updates or invalidates the reads it changes. Errors are api.ts's BackendErrors.
import { keepPreviousData, QueryClient, queryOptions, skipToken, useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  api,
  type DiffGranularity,
  type Endpoint,
  type ExperimentDraft,
  type ExperimentView,
  type CapacityRequest,
  type LoadRunRequest,
  type MonitorWindow,
  type ProgressEvent,
  type QuantizeProgress,
} from "./api";

/** Cases per grid page: a few screens of the grid. */
export const PAGE_CASES = 50;

/** While the start-up self-test runs, its verdict is asked for again this often. */
export const LOCAL_INFERENCE_POLL_MS = 2000;

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A backend error is an answer (a file that does not parse, a model that is missing), not
        // a flaky network: asking again gives the same answer, only later.
        retry: false,
        // Data changes only through runs and saves, which invalidate what they change; the window
        // regaining focus is no reason to ask again (a plan starts a tokenizer worker).
        refetchOnWindowFocus: false,
      },
    },
  });
}

/** Everything under `["experiments", id]` belongs to one recorded experiment, so a run or a
 * resume invalidates it all with one key. */
export const keys = {
  experimentList: ["experiments", "list"] as const,
  experiment: (id: number) => ["experiments", id] as const,
  results: (id: number | null) => ["experiments", id, "results"] as const,
  comparisons: (id: number, baseline: number | null) => ["experiments", id, "comparisons", baseline] as const,
  gridPage: (id: number, repetition: number, page: number) => ["experiments", id, "grid", repetition, page] as const,
  winner: (id: number, objective: string | null) => ["experiments", id, "winner", objective] as const,
  exportPath: (id: number, config: number | null) => ["experiments", id, "export-path", config] as const,
  routing: (id: number, extra: string) => ["experiments", id, "routing", extra] as const,
  history: (id: number) => ["experiments", id, "history"] as const,
  loadTests: ["load-tests"] as const,
  loadTest: (id: number) => ["load-tests", id] as const,
  experimentFile: (path: string | null) => ["experiment-file", path] as const,
  draft: (path: string) => ["experiment-file", path, "draft"] as const,
  plan: (path: string, draft: ExperimentDraft) => ["plan", path, draft] as const,
  diff: (baseline: number | null, other: number | null, granularity: DiffGranularity) => ["diff", baseline, other, granularity] as const,
  models: ["models"] as const,
  endpoints: ["endpoints"] as const,
  keyStatus: (variables: string[]) => ["key-status", variables] as const,
  keyStatuses: ["key-status"] as const,
  prices: ["prices"] as const,
  localInference: ["local-inference"] as const,
  monitor: (deployment: number | null, window: MonitorWindow) => ["monitor", deployment, window] as const,
  serving: ["serving"] as const,
};

/** The Monitor asks again this often while it is shown: the server logs as it goes. */
export const MONITOR_REFRESH_MS = 5000;

// Reads fetched from event handlers (open, show, edit, resume) before the view switches; asked
// for with `client.query` they are read again unless a staleTime says otherwise.
export const experimentFileQuery = (path: string) =>
  queryOptions({ queryKey: keys.experimentFile(path), queryFn: () => api.openExperiment(path) });
export const draftQuery = (path: string) => queryOptions({ queryKey: keys.draft(path), queryFn: () => api.readExperiment(path) });
export const resultsQuery = (id: number) => queryOptions({ queryKey: keys.results(id), queryFn: () => api.results(id) });

export function useExperiments() {
  return useQuery({ queryKey: keys.experimentList, queryFn: api.listExperiments });
}

export function useExperimentFile(path: string | null) {
  return useQuery({
    queryKey: keys.experimentFile(path),
    queryFn: path === null ? skipToken : () => api.openExperiment(path),
    // Read again when the user opens the file again or saves it, not on every return to the screen.
    staleTime: Infinity,
  });
}

export function useResults(id: number | null) {
  return useQuery({
    queryKey: keys.results(id),
    queryFn: id === null ? skipToken : () => api.results(id),
    // Another experiment's results stay on screen until its own are read.
    placeholderData: keepPreviousData,
  });
}

/** Statistics of every config against the baseline; none without a baseline. */
export function useComparisons(id: number, baseline: number | null) {
  return useQuery({
    queryKey: keys.comparisons(id, baseline),
    queryFn: baseline === null ? skipToken : () => api.compareConfigs(id, baseline),
  });
}

/** The pages `firstPage` to `lastPage` of a repetition's cells, each its own query, so only the
 * cases on screen cross the IPC boundary and a scroll back finds its pages cached. */
export function useGridPageQueries(id: number, repetition: number, firstPage: number, lastPage: number) {
  return useQueries({
    queries: Array.from({ length: lastPage - firstPage + 1 }, (_, i) => {
      const page = firstPage + i;
      return {
        queryKey: keys.gridPage(id, repetition, page),
        queryFn: () => api.gridPage(id, repetition, page * PAGE_CASES, PAGE_CASES),
      };
    }),
  });
}

/** A word or character diff of two runs' full outputs; outputs never change, so neither does it. */
export function useDiff(baseline: number | null, other: number | null, granularity: DiffGranularity) {
  return useQuery({
    queryKey: keys.diff(baseline, other, granularity),
    queryFn: baseline === null || other === null ? skipToken : () => api.diffRuns(baseline, other, granularity),
    staleTime: Infinity,
  });
}

/** The winner under `objective`; nothing is asked while `objective` is null. */
export function useWinner(id: number, objective: string | null) {
  return useQuery({
    queryKey: keys.winner(id, objective),
    queryFn: objective === null ? skipToken : () => api.winner(id, objective),
    // The last winner stays while another objective is weighed.
    placeholderData: keepPreviousData,
  });
}

/** Where a config's export file, or with `config` null the winner file, goes by default. */
export function useDefaultExportPath(id: number, config: number | null) {
  return useQuery({ queryKey: keys.exportPath(id, config), queryFn: () => api.defaultExportPath(id, config), staleTime: Infinity });
}

/** Tokens, context fit, memory and cost bound of a draft, before it runs. */
export function usePlan(path: string, draft: ExperimentDraft) {
  return useQuery({
    queryKey: keys.plan(path, draft),
    queryFn: () => api.planExperiment(path, draft),
    // Drafts change per keystroke; an earlier draft's plan is not asked for again.
    gcTime: 0,
  });
}

export function useModels() {
  return useQuery({ queryKey: keys.models, queryFn: api.listModels });
}

export function useEndpoints() {
  return useQuery({ queryKey: keys.endpoints, queryFn: api.listEndpoints });
}

/** Where each variable's key would come from; nothing is asked while `variables` is null. */
export function useKeyStatuses(variables: string[] | null) {
  return useQuery({
    queryKey: keys.keyStatus(variables ?? []),
    queryFn: variables === null ? skipToken : () => api.keyStatus(variables),
    // A variable added to the list keeps the table in place while its status is asked for.
    placeholderData: keepPreviousData,
  });
}

export function usePrices() {
  return useQuery({ queryKey: keys.prices, queryFn: api.prices });
}

/** A served deployment's traffic over `window` (the newest deployment when `deployment` is null). */
export function useMonitor(deployment: number | null, window: MonitorWindow, refreshMs = MONITOR_REFRESH_MS) {
  return useQuery({
    queryKey: keys.monitor(deployment, window),
    queryFn: () => api.monitor(deployment, window),
    refetchInterval: refreshMs,
    placeholderData: keepPreviousData,
  });
}

/** The winner the app serves, if any; asked again now and then, as a server can stop by itself. */
export function useServing() {
  return useQuery({ queryKey: keys.serving, queryFn: api.servingStatus, refetchInterval: MONITOR_REFRESH_MS });
}

export function useServeWinner() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, objective }: { id: number; objective: string }) => api.serveWinner(id, objective),
    onSuccess: (serving) => {
      client.setQueryData(keys.serving, serving);
      void client.invalidateQueries({ queryKey: ["monitor"] });
    },
  });
}

export function useStopServing() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: api.stopServing,
    onSuccess: () => client.setQueryData(keys.serving, null),
  });
}

/** The start-up self-test's verdict, asked again while it is still checking. */
export function useLocalInference(pollMs = LOCAL_INFERENCE_POLL_MS) {
  return useQuery({
    queryKey: keys.localInference,
    queryFn: api.localInference,
    refetchInterval: (query) => (query.state.data?.state === "checking" ? pollMs : false),
  });
}

/** Writes the quickstart experiment into the data folder unless it is there, and gives its path. */
export function useQuickstartFile() {
  return useMutation({ mutationFn: api.quickstartFile });
}

export function useSaveExperiment() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ path, draft }: { path: string; draft: ExperimentDraft }) => api.saveExperiment(path, draft),
    onSuccess: (view: ExperimentView) => client.setQueryData(keys.experimentFile(view.path), view),
  });
}

/** While an experiment runs, its views are read again at most this often: each read redraws the
 * summary, charts and grid, and on a machine with few cores that takes CPU from the run. */
const LIVE_REFRESH_MS = 5000;

/** An experiment file to run, or a recorded experiment whose missing runs to run into it. */
export type RunTarget = { path: string } | { resume: number };
export type RunRequest = RunTarget & { onEvent: (event: ProgressEvent) => void };

/** Runs an experiment file, or the missing runs of a recorded experiment into it, following its
 * progress in `onEvent`. The experiment's views are read again as runs finish, and once more
 * before the outcome is reported, so what is shown then is complete. */
export function useRunExperiment() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (request: RunRequest) => {
      let id: number | null = "resume" in request ? request.resume : null;
      let refreshed = 0;
      const follow = (event: ProgressEvent) => {
        if (event.kind === "started") {
          id = event.experiment_id;
          void client.invalidateQueries({ queryKey: keys.experimentList });
        }
        if (event.kind === "run_finished" && id !== null && Date.now() - refreshed > LIVE_REFRESH_MS) {
          refreshed = Date.now();
          void client.invalidateQueries({ queryKey: keys.experiment(id) });
          // The sidebar's run count follows too.
          void client.invalidateQueries({ queryKey: keys.experimentList });
        }
        request.onEvent(event);
      };
      try {
        return await ("resume" in request ? api.resumeExperiment(request.resume, follow) : api.runExperiment(request.path, follow));
      } finally {
        await Promise.all([
          client.invalidateQueries({ queryKey: keys.experimentList }),
          id === null ? null : client.invalidateQueries({ queryKey: keys.experiment(id) }),
        ]);
      }
    },
  });
}

export function useCancelRun() {
  return useMutation({ mutationFn: api.cancelRun });
}

export function useExportConfig() {
  return useMutation({
    mutationFn: async ({ id, config }: { id: number; config: number }) =>
      api.exportConfig(id, config, await api.defaultExportPath(id, config)),
  });
}

/** Policies simulated on the recorded runs: the file's own and `extra` (a JSON list); read only
 * while `enabled` (the view is shown), since a simulation reads every run. */
export function useRouting(id: number, extra: string, enabled = true) {
  return useQuery({
    queryKey: keys.routing(id, extra),
    queryFn: () => api.simulateRouting(id, extra),
    enabled,
    // The last simulation stays on screen while an edited cascade is simulated.
    placeholderData: keepPreviousData,
  });
}

export function useLoadTests() {
  return useQuery({ queryKey: keys.loadTests, queryFn: api.listLoadTests });
}

export function useLoadTest(id: number | null) {
  return useQuery({ queryKey: keys.loadTest(id ?? 0), queryFn: id === null ? skipToken : () => api.loadTest(id) });
}

export function useRunLoadTest() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (job: { request: LoadRunRequest; onLine: (line: string) => void }) => api.runLoadTest(job.request, job.onLine),
    onSettled: () => client.invalidateQueries({ queryKey: keys.loadTests }),
  });
}

export function usePlanCapacity() {
  return useMutation({ mutationFn: (job: { id: number; request: CapacityRequest }) => api.planLoadCapacity(job.id, job.request) });
}

/** The experiment's file run after run (read when the History tab is first shown). */
export function useHistory(id: number) {
  return useQuery({ queryKey: keys.history(id), queryFn: () => api.experimentHistory(id) });
}

export function useExportPolicies() {
  return useMutation({
    mutationFn: ({ id, policies, path }: { id: number; policies: string; path: string }) => api.exportPolicies(id, policies, path),
  });
}

export function useExportWinner() {
  return useMutation({
    mutationFn: ({ id, objective, path }: { id: number; objective: string; path: string }) => api.exportWinner(id, objective, path),
  });
}

export function useAddModelSource() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: api.addModelSource,
    onSuccess: (models) => client.setQueryData(keys.models, models),
  });
}

export function useQuantizeModel() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (job: { source: string; types: string[]; allowRequantize: boolean; onEvent: (event: QuantizeProgress) => void }) =>
      api.quantizeModel(job.source, job.types, job.allowRequantize, job.onEvent),
    // A failed job may still have written some of its files.
    onSettled: () => client.invalidateQueries({ queryKey: keys.models }),
  });
}

export function useSaveEndpoint() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (endpoint: Endpoint) => api.saveEndpoint(endpoint),
    onSuccess: (endpoints) => client.setQueryData(keys.endpoints, endpoints),
  });
}

export function useDeleteEndpoint() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => api.deleteEndpoint(name),
    onSuccess: (endpoints) => client.setQueryData(keys.endpoints, endpoints),
  });
}

/** Tries an endpoint (not necessarily saved) and lists the server's models; it changes nothing. */
export function useTestEndpoint() {
  return useMutation({ mutationFn: (endpoint: Endpoint) => api.testEndpoint(endpoint) });
}

export function useSetApiKey() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ variable, key }: { variable: string; key: string }) => api.setApiKey(variable, key),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.keyStatuses }),
  });
}

export function useDeleteApiKey() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (variable: string) => api.deleteApiKey(variable),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.keyStatuses }),
  });
}

export function useSavePriceOverrides() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (text: string) => api.savePriceOverrides(text),
    onSuccess: (prices) => client.setQueryData(keys.prices, prices),
  });
}
