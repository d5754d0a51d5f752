import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, errorDetails, errorText, type ExperimentItem, type ExperimentView } from "../api";
import { nextProgress, type Progress } from "../components/RunProgress";
import { configLabel } from "../format";
import { experimentFileQuery, keys, resultsQuery, useCancelRun, useQuickstartFile, useRunExperiment, type RunTarget } from "../queries";

export interface Message {
  kind: "info" | "error";
  text: string;
  /** What the backend kept beyond the sentence, folded under it (a run's worker stderr, a cause chain). */
  details?: string | null;
}

export function errorMessage(error: unknown): Message {
  return { kind: "error", text: errorText(error), details: errorDetails(error) };
}

/** What the sidebar and the Experiments screen share, and what outlives a look at another
 * screen: the file opened, the experiment shown, the run in progress and the last word about it. */
export interface Workspace {
  openedPath: string | null;
  shownId: number | null;
  /** Null when no experiment runs. */
  progress: Progress | null;
  message: Message | null;
  notify: (message: Message) => void;
  /** Reads the file (again) and shows it; null, with the reason in `message`, when it does not open. */
  open: (file: string) => Promise<ExperimentView | null>;
  /** Opens the file chosen in the native open dialog; null when cancelled or it does not open. */
  openChosen: () => Promise<ExperimentView | null>;
  /** Opens the quickstart (written into the data folder the first time). */
  openQuickstart: () => Promise<ExperimentView | null>;
  /** Shows a recorded experiment's results once they are read; a failure leaves the view as it was. */
  show: (id: number) => Promise<void>;
  /** Shows a recorded experiment and, when its file is still there, opens the file too, so Run
   * and Edit are at hand again. */
  reopen: (experiment: ExperimentItem) => Promise<void>;
  run: (opened: ExperimentView) => Promise<void>;
  /** Runs what an interrupted experiment is missing, into the same experiment. */
  resume: (id: number) => Promise<void>;
  cancel: () => void;
  /** The editor saved the file: it is the one opened now. */
  saved: (view: ExperimentView) => void;
}

const WorkspaceContext = createContext<Workspace | null>(null);

export function useWorkspace(): Workspace {
  const workspace = useContext(WorkspaceContext);
  if (!workspace) throw new Error("useWorkspace outside ExperimentWorkspace");
  return workspace;
}

export function ExperimentWorkspace({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const { mutateAsync: start } = useRunExperiment();
  const { mutate: cancelRun } = useCancelRun();
  const { mutateAsync: quickstartFile } = useQuickstartFile();
  const [openedPath, setOpenedPath] = useState<string | null>(null);
  const [shownId, setShownId] = useState<number | null>(null);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [message, setMessage] = useState<Message | null>(null);

  const fail = useCallback((e: unknown) => setMessage(errorMessage(e)), []);

  const open = useCallback(
    async (file: string) => {
      try {
        const view = await client.query(experimentFileQuery(file));
        setOpenedPath(file);
        setMessage(null);
        return view;
      } catch (e) {
        // What is open stays open: a path mistyped must not take away its Run and Edit.
        fail(e);
        return null;
      }
    },
    [client, fail],
  );

  const openChosen = useCallback(async () => {
    try {
      const chosen = await api.pickOpenPath(false);
      return chosen === null ? null : await open(chosen);
    } catch (e) {
      fail(e);
      return null;
    }
  }, [open, fail]);

  const openQuickstart = useCallback(async () => {
    try {
      return await open(await quickstartFile());
    } catch (e) {
      fail(e);
      return null;
    }
  }, [open, quickstartFile, fail]);

  const show = useCallback(
    async (id: number) => {
      try {
        // Shown again, an experiment is read again whole (results, grid pages, statistics): a run
        // from a terminal may have added to it. What that has just read is not read twice.
        await client.invalidateQueries({ queryKey: keys.experiment(id) });
        await client.query({ ...resultsQuery(id), staleTime: Infinity });
        setShownId(id);
      } catch (e) {
        fail(e);
      }
    },
    [client, fail],
  );

  /** Starts an experiment process and follows its progress into the results view. */
  const execute = useCallback(
    async (request: RunTarget, labels: string[], cases: string[], total: number) => {
      let experimentId: number | null = null;
      setProgress({ done: 0, total, startedAt: Date.now(), eta: null, label: "starting", text: "" });
      setMessage(null);
      try {
        const outcome = await start({
          ...request,
          onEvent: (event) => {
            if (event.kind === "started") {
              experimentId = event.experiment_id;
              void show(event.experiment_id);
            }
            setProgress((p) => nextProgress(p, event, (i) => labels[i] ?? `config ${i}`, (i) => cases[i] ?? String(i)) ?? p);
          },
        });
        if (outcome.experiment_id !== null) setShownId(outcome.experiment_id);
        setMessage({ kind: "info", text: `Experiment ${outcome.experiment_id ?? ""} ${outcome.status}.` });
      } catch (e) {
        if (experimentId !== null) setShownId(experimentId);
        fail(e);
      } finally {
        setProgress(null);
      }
    },
    [start, show, fail],
  );

  const run = useCallback(
    (opened: ExperimentView) => execute({ path: opened.path }, opened.configs, opened.cases, opened.runs),
    [execute],
  );

  const resume = useCallback(
    async (id: number) => {
      let view;
      try {
        view = await client.query(resultsQuery(id));
      } catch (e) {
        fail(e);
        return;
      }
      const missing = Math.max(view.planned_runs - view.recorded_runs, 0);
      await execute({ resume: id }, view.configs.map(configLabel), view.cases, missing);
    },
    [client, execute, fail],
  );

  const reopen = useCallback(
    async (experiment: ExperimentItem) => {
      await show(experiment.id);
      const source = experiment.source;
      if (source && source !== openedPath) await open(source);
    },
    [show, open, openedPath],
  );

  const cancel = useCallback(() => cancelRun(undefined, { onError: fail }), [cancelRun, fail]);

  const saved = useCallback((view: ExperimentView) => {
    setOpenedPath(view.path);
    setMessage({ kind: "info", text: `Saved ${view.path}` });
  }, []);

  const workspace = useMemo(
    () => ({
      openedPath,
      shownId,
      progress,
      message,
      notify: setMessage,
      open,
      openChosen,
      openQuickstart,
      show,
      reopen,
      run,
      resume,
      cancel,
      saved,
    }),
    [openedPath, shownId, progress, message, open, openChosen, openQuickstart, show, reopen, run, resume, cancel, saved],
  );
  return <WorkspaceContext.Provider value={workspace}>{children}</WorkspaceContext.Provider>;
}
