import { useState } from "react";
import { ExperimentsScreen } from "./screens/ExperimentsScreen";
import { ExperimentsSidebar } from "./screens/ExperimentsSidebar";
import { ExperimentWorkspace } from "./screens/ExperimentWorkspace";
import { LoadScreen } from "./screens/LoadScreen";
import { ModelsScreen } from "./screens/ModelsScreen";
import { MonitorScreen } from "./screens/MonitorScreen";
import { SettingsScreen } from "./screens/SettingsScreen";
import { TargetsScreen } from "./screens/TargetsScreen";

type Screen = "experiments" | "models" | "targets" | "monitor" | "load" | "settings";

const SCREENS: { screen: Screen; label: string; testId?: string }[] = [
  { screen: "experiments", label: "Experiments" },
  { screen: "models", label: "Models", testId: "models-button" },
  { screen: "targets", label: "Targets", testId: "targets-button" },
  { screen: "monitor", label: "Monitor", testId: "monitor-button" },
  { screen: "load", label: "Load", testId: "load-button" },
  { screen: "settings", label: "Settings", testId: "settings-button" },
];

/** The shell: the sidebar with the screens and the experiments, and the screen chosen. */
export default function App() {
  const [screen, setScreen] = useState<Screen>("experiments");
  return (
    <ExperimentWorkspace>
      <div className="app">
        <aside className="sidebar">
          <h1>Tradeoff</h1>
          <nav className="screens">
            {SCREENS.map((s) => (
              <button key={s.screen} className={screen === s.screen ? "active" : ""} onClick={() => setScreen(s.screen)} data-testid={s.testId}>
                {s.label}
              </button>
            ))}
          </nav>
          <ExperimentsSidebar onQuickstart={() => setScreen("experiments")} />
        </aside>
        <main>
          <ExperimentsScreen active={screen === "experiments"} />
          {screen === "models" && <ModelsScreen />}
          {screen === "targets" && <TargetsScreen />}
          {screen === "monitor" && <MonitorScreen />}
          {screen === "load" && <LoadScreen />}
          {screen === "settings" && <SettingsScreen />}
        </main>
      </div>
    </ExperimentWorkspace>
  );
}
