import { useState } from "react";
import { ExperimentList } from "../components/ExperimentList";
import { useExperiments } from "../queries";
import { useWorkspace } from "./ExperimentWorkspace";

/** The sidebar's part of the Experiments screen: start from the quickstart, open a file, and the
 * recorded experiments. */
export function ExperimentsSidebar({ onQuickstart }: { onQuickstart: () => void }) {
  const workspace = useWorkspace();
  const experiments = useExperiments();
  const [path, setPath] = useState("");
  // The field names the file opened last, also when the editor saved it under another name.
  const [openedPath, setOpenedPath] = useState(workspace.openedPath);
  if (workspace.openedPath !== openedPath) {
    setOpenedPath(workspace.openedPath);
    if (workspace.openedPath !== null) setPath(workspace.openedPath);
  }

  return (
    <>
      <button
        onClick={() => {
          onQuickstart();
          void workspace.openQuickstart();
        }}
        data-testid="open-quickstart"
      >
        New from quickstart
      </button>
      <form
        className="open-form"
        onSubmit={(e) => {
          e.preventDefault();
          void workspace.open(path);
        }}
      >
        <input value={path} onChange={(e) => setPath(e.target.value)} placeholder="file path" aria-label="experiment file" />
        <button type="submit">Open</button>
        <button type="button" onClick={() => void workspace.openChosen()} data-testid="browse-experiment">
          Browse…
        </button>
      </form>
      <h2>Experiments</h2>
      <ExperimentList
        experiments={experiments.data ?? []}
        current={workspace.shownId}
        onOpen={(id) => {
          const experiment = experiments.data?.find((e) => e.id === id);
          if (experiment) void workspace.reopen(experiment);
        }}
        onResume={(id) => void workspace.resume(id)}
        busy={workspace.progress !== null}
      />
    </>
  );
}
