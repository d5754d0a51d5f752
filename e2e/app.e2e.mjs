// The user's headline flow on the real app and the real default model: open the quickstart,
// run it, pick a baseline, see word diffs in the other columns, export a config.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { remote } from "webdriverio";

const APP_BIN = process.env.APP_BIN;
const PORT = Number(process.env.TAURI_DRIVER_PORT ?? 4444);
const OUTPUT = process.env.E2E_OUTPUT ?? path.resolve(import.meta.dirname, "output");

let browser;

before(async () => {
  browser = await remote({
    hostname: "127.0.0.1",
    port: PORT,
    logLevel: "warn",
    connectionRetryTimeout: 60_000,
    connectionRetryCount: 0,
    capabilities: {
      browserName: "wry",
      "tauri:options": { application: APP_BIN },
      "wdio:enforceWebDriverClassic": true,
    },
  });
});

after(async () => {
  await browser?.deleteSession();
});

async function screenshot(name) {
  // The X server's picture of the real window (WebKitWebDriver's own screenshot call can hang
  // while WebKit renders without compositing). Give the last DOM change a moment to paint.
  await browser.pause(700);
  execFileSync("import", ["-window", "root", path.join(OUTPUT, name)]);
}

// Waits inside the page for an element whose text matches, without WebDriver round trips: polling
// from here every half second cost the machine CPU that the runs being timed then lacked.
async function waitInPage(selector, pattern, timeout, timeoutMsg) {
  await browser.setTimeout({ script: timeout + 5_000 });
  const found = await browser.executeAsync(
    (selector, pattern, timeout, done) => {
      const matches = () => {
        const element = document.querySelector(selector);
        return element !== null && new RegExp(pattern).test(element.textContent ?? "");
      };
      if (matches()) return done(true);
      const observer = new MutationObserver(() => {
        if (matches()) {
          observer.disconnect();
          done(true);
        }
      });
      observer.observe(document.body, { childList: true, subtree: true, characterData: true });
      setTimeout(() => {
        observer.disconnect();
        done(matches());
      }, timeout);
    },
    selector,
    pattern,
    timeout,
  );
  assert.ok(found, timeoutMsg);
}

/** Opens an experiment file from the Experiments screen and runs it. */
async function openAndRun(file) {
  await (await browser.$("button=Experiments")).click();
  await (await browser.$('[aria-label="experiment file"]')).setValue(file);
  await (await browser.$("button=Open")).click();
  const runButton = await browser.$('[data-testid="run-button"]');
  await runButton.waitForClickable({ timeout: 20_000 });
  await runButton.click();
}

test("the quickstart runs in the app, shows word diffs against a baseline, and exports a config", async () => {
  assert.equal(await browser.getTitle(), "Tradeoff");
  // The first screen says what Tradeoff answers and offers the quickstart as the first action.
  const first = await browser.$('[data-testid="first-screen"]');
  await first.waitForDisplayed({ timeout: 30_000 });
  assert.match(await first.getText(), /lowest latency and cost/);
  assert.ok(await (await browser.$('[data-testid="run-quickstart"]')).isClickable());
  await screenshot("first-screen.png");
  const quickstart = await browser.$('[data-testid="open-quickstart"]');
  await quickstart.waitForClickable({ timeout: 30_000 });
  await quickstart.click();
  const runButton = await browser.$('[data-testid="run-button"]');
  await runButton.waitForClickable({ timeout: 20_000 });

  // The editor shows the experiment's variants, cases and dimensions in forms.
  await (await browser.$('[data-testid="edit-button"]')).click();
  const editor = await browser.$('[data-testid="editor"]');
  await editor.waitForExist({ timeout: 10_000 });
  assert.equal(await (await browser.$('[aria-label="variant 1 id"]')).getValue(), "fewshot");
  assert.equal(await (await browser.$('[aria-label="target gemma-270m-q4 n_ctx"]')).getValue(), "512, 2048");
  // The plan view counts every config × case with the model's own tokenizer (a worker the app
  // starts), and counts again after a template changes.
  const tokens = async () => {
    const texts = [];
    for (const cell of await browser.$$('[data-testid="plan-tokens"]')) texts.push(await cell.getText());
    return texts;
  };
  await browser.waitUntil(async () => (await tokens()).length > 0 && (await tokens()).every((t) => /^\d+$/.test(t)), {
    timeout: 60_000,
    timeoutMsg: "the plan view showed no exact token counts",
  });
  const before = await tokens();
  await (await browser.$('[aria-label="variant bare prompt"]')).addValue(" Answer briefly, in one short line.");
  await browser.waitUntil(async () => (await tokens()).join() !== before.join(), {
    timeout: 30_000,
    timeoutMsg: "the plan view did not count again after an edit",
  });
  await (await browser.$('[data-testid="plan-preview"]')).scrollIntoView();
  await screenshot("plan.png");
  await (await browser.$('[data-testid="editor"]')).scrollIntoView();
  await screenshot("editor.png");
  // A save the validator refuses points at the field: the reason in that variant's card, the
  // cursor in the template, the message beside the Save button.
  await (await browser.$('[aria-label="variant bare prompt"]')).addValue(" {{ sentnce }}");
  await (await browser.$('[data-testid="save-experiment"]')).click();
  const note = await browser.$('[data-testid="field-error"]');
  await note.waitForDisplayed({ timeout: 10_000 });
  assert.match(await note.getText(), /sentnce/);
  assert.equal(await browser.execute(() => document.activeElement?.getAttribute("aria-label")), "variant bare prompt");
  assert.match(await (await browser.$('[data-testid="save-error"]')).getText(), /variants\[1\]/);
  await screenshot("save-error.png");
  await (await editor.$("button=Close")).click();
  await editor.waitForExist({ reverse: true, timeout: 10_000 });

  await runButton.click();

  const progress = await browser.$('[data-testid="run-progress"]');
  await progress.waitForExist({ timeout: 30_000 });
  await screenshot("running.png");

  const message = await browser.$('[data-testid="message"]');
  await waitInPage('[data-testid="message"]', "completed", 300_000, "the quickstart did not complete");
  const cells = await browser.$$(".grid-cell[data-run-id]");
  assert.equal(cells.length, 4 * 6, "4 cases × 6 configs for repetition 1");

  // Baseline: the few-shot prompt at n_ctx 512; the bare and chat columns differ from it.
  await (await browser.$('[data-testid="baseline"]')).selectByAttribute("value", "0");
  await browser.waitUntil(async () => (await browser.$$('.grid-cell [data-diff="insert"]').length) > 0, {
    timeout: 30_000,
    timeoutMsg: "no diff highlights appeared",
  });
  const deletions = await browser.$$('.grid-cell [data-diff="delete"]');
  assert.ok(deletions.length > 0, "deleted words are highlighted too");
  const similarities = await browser.$$(".grid-cell .similarity");
  assert.ok(similarities.length >= 4, "cells show their similarity to the baseline");
  await screenshot("results-diff.png");

  // The summary is a view of its own; its rows keep Export and the config's names in view.
  await (await browser.$('[data-testid="tab-summary"]')).click();
  await screenshot("summary.png");
  const exportButton = await browser.$(".export-button");
  await exportButton.click();
  await browser.waitUntil(async () => /^Exported /.test(await message.getText()), { timeout: 20_000 });
  const exported = (await message.getText()).split(" to ").pop().trim();
  const config = JSON.parse(fs.readFileSync(exported, "utf8"));
  assert.equal(config.schema, 2);
  assert.equal(config.variant.id, "fewshot");
  assert.equal(config.settings.n_ctx, 512);
  assert.equal(config.settings.kv_type, "f16");
  assert.equal(config.summary.runs, 8);
  assert.match(config.provenance.model_sha256, /^[0-9a-f]{64}$/);

  // Routing: a cascade built from the configs (cheapest first, escalating when the answer is not
  // JSON), simulated on the recorded runs beside every config alone, then exported as a policy file.
  await (await browser.$('[data-testid="tab-routing"]')).click();
  await browser.waitUntil(async () => (await browser.$$('[data-testid="routing-row"]').length) >= 6, {
    timeout: 30_000,
    timeoutMsg: "the routing view listed no configs",
  });
  await (await browser.$('[data-testid="simulate-routing"]')).click();
  const built = await browser.$('[data-testid="routing-row"].built');
  await built.waitForExist({ timeout: 30_000, timeoutMsg: "the built cascade was not simulated" });
  assert.match(await built.getText(), /my-cascade[\s\S]*\d+%/);
  await (await browser.$('[data-testid="routing-chart"]')).scrollIntoView();
  await screenshot("routing.png");
  await (await browser.$('[data-testid="export-policy"]')).click();
  const routingNote = await browser.$('[data-testid="routing-note"]');
  await routingNote.waitForExist({ timeout: 10_000 });
  const policyFile = (await routingNote.getText()).match(/--policy (\S+\.yaml)/)[1];
  assert.match(fs.readFileSync(policyFile, "utf8"), /id: my-cascade/);
  await (await browser.$('[data-testid="tab-grid"]')).click();

  // A second run, cancelled part-way: the finished runs stay and the experiment says cancelled.
  await runButton.click();
  const count = await browser.$('[data-testid="progress-count"]');
  await browser.waitUntil(async () => (await count.isExisting()) && /^[1-9]\d*\//.test(await count.getText()), {
    timeout: 60_000,
    timeoutMsg: "the second run made no progress",
  });
  await (await browser.$('[data-testid="run-progress"] button')).click();
  await browser.waitUntil(async () => (await message.isExisting()) && /cancelled/.test(await message.getText()), {
    timeout: 30_000,
    timeoutMsg: "cancelling did not end the run",
  });
  const second = await browser.$$(".experiment-list li");
  assert.equal(second.length, 2);
  assert.match(await second[0].getText(), /cancelled/);

  // The same file run twice: the History tab lists both runs and each config's course through them.
  await (await browser.$('[data-testid="tab-history"]')).click();
  const historyView = await browser.$('[data-testid="history"]');
  await historyView.waitForExist({ timeout: 30_000, timeoutMsg: "the history of the file was not shown" });
  assert.match(await historyView.getText(), /2 recorded runs of [\s\S]*quickstart/);
  assert.ok((await browser.$$('[data-testid="history-row"]').length) >= 7);
  await screenshot("history.png");
  await (await browser.$('[data-testid="tab-grid"]')).click();

  // The Models screen: the default model from its header, and a Q8_0 made from it in the worker.
  await (await browser.$('[data-testid="models-button"]')).click();
  const models = await browser.$('[data-testid="models-screen"]');
  await browser.waitUntil(async () => /gemma-3-270m-q4_k_m/.test(await models.getText()), {
    timeout: 20_000,
    timeoutMsg: "the library did not list the default model",
  });
  await (await browser.$('[aria-label="quantize gemma-3-270m-q4_k_m"]')).click();
  await (await browser.$("label*=requantize from Q4_K_M")).click();
  await (await browser.$('[data-testid="quantize-start"]')).click();
  await browser.waitUntil(async () => /requantized from Q4_K_M/.test(await models.getText()), {
    timeout: 60_000,
    timeoutMsg: "the quantized model did not appear in the library",
  });
  await screenshot("models.png");
});

/** An OpenAI-compatible server on 127.0.0.1 that lists two models and streams the committed
 * chat-completions recording, one event every 20 ms. */
async function startFakeProvider() {
  const http = await import("node:http");
  const recording = fs.readFileSync(path.resolve(import.meta.dirname, "../fixtures/streams/openai-chat.sse"), "utf8");
  const events = recording.split("\n\n").map((e) => e.trim()).filter(Boolean);
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "gpt-4o-mini" }, { id: "gpt-4o" }] }));
      return;
    }
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      let i = 0;
      const next = () => {
        if (i === events.length) return res.end();
        res.write(`${events[i++]}\n\n`);
        setTimeout(next, 20);
      };
      setTimeout(next, 20);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

test("a remote endpoint is tested on the Targets screen and a remote target runs into the grid", async () => {
  const server = await startFakeProvider();
  const base = `http://127.0.0.1:${server.address().port}/v1`;
  try {
    await (await browser.$('[data-testid="targets-button"]')).click();
    await (await browser.$('[aria-label="endpoint name"]')).setValue("fake-openai");
    await (await browser.$('[aria-label="endpoint base_url"]')).setValue(base);
    await (await browser.$('[aria-label="endpoint model"]')).setValue("gpt-4o-mini");
    await (await browser.$('[data-testid="test-endpoint"]')).click();
    const probe = await browser.$('[data-testid="probe"]');
    await probe.waitForExist({ timeout: 20_000, timeoutMsg: "the connection test showed nothing" });
    assert.match(await probe.getText(), /2 models offered, gpt-4o-mini among them/);
    await (await browser.$('[data-testid="save-endpoint"]')).click();
    const endpoints = await browser.$('[data-testid="endpoints"]');
    await browser.waitUntil(async () => /fake-openai/.test(await endpoints.getText()), { timeout: 10_000 });
    await screenshot("targets.png");

    await (await browser.$('[data-testid="settings-button"]')).click();
    const status = await browser.$('[data-testid="key-status-OPENAI_API_KEY"]');
    await status.waitForExist({ timeout: 10_000 });
    assert.ok((await status.getText()).length > 0);
    // Local inference was proved when the app started: a test decode, with the CPU variant named.
    const inference = await browser.$('[data-testid="local-inference-status"]');
    await browser.waitUntil(async () => /^Verified on \S+ \(.*\) by a test decode on this machine$/.test(await inference.getText()), {
      timeout: 120_000,
      interval: 500,
      timeoutMsg: "Settings did not show local inference as verified",
    });
    // The price table in force, built-in entries listed.
    await browser.waitUntil(async () => (await browser.$$('[data-testid="price-row"]')).length > 5, {
      timeout: 10_000,
      timeoutMsg: "the price table is empty",
    });
    await screenshot("settings.png");

    // An experiment whose only target is the remote server runs in the app like a local one.
    const file = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "tradeoff-e2e-")), "remote.yaml");
    fs.writeFileSync(
      file,
      [
        "schema: 1",
        "name: remote",
        "variants: [{id: json, system: 'Answer with JSON.', user: '{{ sentence }}'}]",
        "cases: [{id: berlin, vars: {sentence: 'The Berlin Wall fell in 1989.'}}, {id: paris, vars: {sentence: 'Paris, 1889.'}}]",
        `targets: [{id: fake, provider: openai, model: gpt-4o-mini, base_url: '${base}', price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}]`,
        "repetitions: 2",
        "checks: [{type: json_valid}]",
        "",
      ].join("\n"),
    );
    await openAndRun(file);
    const message = await browser.$('[data-testid="message"]');
    await browser.waitUntil(async () => (await message.isExisting()) && /completed/.test(await message.getText()), {
      timeout: 60_000,
      interval: 300,
      timeoutMsg: "the remote experiment did not complete",
    });
    await (await browser.$('[data-testid="tab-grid"]')).click();
    // The grid reads its pages when its tab is shown.
    await browser.waitUntil(async () => (await browser.$$(".grid-cell[data-run-id]")).length === 2, {
      timeout: 10_000,
      timeoutMsg: "2 cases × 1 config for repetition 1 did not appear in the grid",
    });
    const cells = await browser.$$(".grid-cell[data-run-id]");
    assert.match(await cells[0].getText(), /Berlin/);
    await (await browser.$('[data-testid="tab-summary"]')).click();
    const summary = await browser.$('[data-testid="summary-table"]');
    // Its text as the DOM has it: WebKitWebDriver's getText leaves out the pinned (sticky) cells.
    assert.match(await summary.getProperty("textContent"), /openai gpt-4o-mini/);
    await screenshot("remote-results.png");

    // The decision: the winner card picks the only config and writes the winner file.
    await (await browser.$('[data-testid="tab-winner"]')).click();
    await (await browser.$('[data-testid="decide"]')).click();
    const label = await browser.$('[data-testid="winner-label"]');
    await label.waitForExist({ timeout: 20_000, timeoutMsg: "no winner was shown" });
    assert.equal(await label.getText(), "json · fake · openai gpt-4o-mini");
    // A path outside the data folder that the user did not choose in the save dialog is refused.
    const winnerPath = await browser.$('[aria-label="winner file"]');
    const suggested = await winnerPath.getValue();
    await winnerPath.setValue(path.join(path.dirname(file), "winner.json"));
    await (await browser.$('[data-testid="export-winner"]')).click();
    const refusal = await browser.$('[data-testid="winner-card"] [role="alert"]');
    await refusal.waitForExist({ timeout: 10_000, timeoutMsg: "an export outside the data folder was not refused" });
    assert.match(await refusal.getText(), /outside the data folder/);
    assert.ok(!fs.existsSync(path.join(path.dirname(file), "winner.json")));
    await winnerPath.setValue(suggested);
    await (await browser.$('[data-testid="export-winner"]')).click();
    const wrote = await browser.$("p*=Wrote ");
    await wrote.waitForExist({ timeout: 10_000 });
    const winnerFile = (await wrote.getText()).replace(/^Wrote /, "").trim();
    const exported = JSON.parse(fs.readFileSync(winnerFile, "utf8"));
    assert.equal(exported.kind, "tradeoff.winner");
    assert.equal(exported.winner.settings, null, "a remote winner has no local settings");
    assert.equal(exported.winner.target.remote.provider, "openai");
    await screenshot("winner.png");
    // Serve: the real `tradeoff serve` proxies a remote winner to its API; the card says where it
    // listens, and Stop ends it.
    await (await browser.$('[data-testid="serve-winner"]')).click();
    await waitInPage('[data-testid="serving"]', "Serving at http://127\\.0\\.0\\.1:\\d+/v1", 60_000, "the served winner's address was not shown");
    await (await browser.$('[data-testid="stop-serving"]')).click();
    await browser.waitUntil(async () => !(await (await browser.$('[data-testid="serving"]')).isExisting()), {
      timeout: 20_000,
      timeoutMsg: "Stop did not end the server",
    });
  } finally {
    server.close();
  }
});

test("a served winner's traffic shows on the Monitor screen", async () => {
  // The quickstart's winner, served by the real `tradeoff serve` into the app's database.
  const tradeoff = path.join(path.dirname(APP_BIN), "tradeoff");
  const listed = JSON.parse(execFileSync(tradeoff, ["list", "--json"], { encoding: "utf8" }));
  const quickstart = listed.find((e) => e.name === "quickstart");
  assert.ok(quickstart, `no quickstart among ${listed.map((e) => e.name)}`);
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "tradeoff-e2e-serve-"));
  const winner = path.join(dir, "winner.json");
  execFileSync(tradeoff, ["winner", String(quickstart.id), "-o", winner]);
  const { spawn } = await import("node:child_process");
  const server = spawn(tradeoff, ["serve", winner, "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`tradeoff serve said: ${seen}`)), 120_000);
      server.stdout.on("data", (chunk) => {
        seen += chunk;
        const match = seen.match(/listening on (\S+)/);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      server.on("exit", (code) => reject(new Error(`tradeoff serve exited with ${code}: ${seen}`)));
    });
    const file = JSON.parse(fs.readFileSync(winner, "utf8"));
    const variant = file.winner.variant.id;
    for (const sentence of ["The Berlin Wall fell in 1989.", "Paris hosted the World Exposition of 1889.", "In 2012 London welcomed athletes."]) {
      const response = await fetch(`${url}/variants/${variant}/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ vars: { sentence } }),
      });
      assert.equal(response.status, 200, await response.text());
    }
    // The Load screen: a sweep of the served winner (one client, many, then five rates between
    // what they answered and one beyond), run by the app through `tradeoff load`, its levels
    // listed as they finish, then its curve and knee.
    await (await browser.$('[data-testid="load-button"]')).click();
    const endpoint = await browser.$('input[aria-label="endpoint"]');
    await endpoint.setValue(url);
    const seconds = await browser.$('input[aria-label="seconds per level"]');
    await seconds.setValue("3");
    await (await browser.$('[data-testid="run-load"]')).click();
    await browser.waitUntil(async () => (await browser.$$('[data-testid="load-level"]').length) === 8, {
      timeout: 180_000,
      timeoutMsg: "the sweep's levels were not shown",
    });
    assert.match(await (await browser.$('[data-testid="load-progress"]')).getText(), /1 client: \d+ requests[\s\S]*req\/s: \d+ requests/);
    assert.match(await (await browser.$('[data-testid="load-knee"]')).getText(), /req\/s/);
    await screenshot("load.png");
  } finally {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("close", resolve));
  }
  await (await browser.$('[data-testid="monitor-button"]')).click();
  // The three requests above, and the load test's through the same server.
  await waitInPage('[data-testid="monitor-summary"]', "^([3-9]|[1-9]\\d+) requests in the last 1 h", 30_000, "the Monitor did not show the requests");
  const charts = await browser.$$('[data-testid="monitor-chart"]');
  assert.equal(charts.length, 6);
  await screenshot("monitor.png");
});

test("a racing search shows its race while it runs, greys out dropped configs, and charts pass rate against budget tokens", async () => {
  // The retrieval fixture: 20 configs (2 variants × 5 passage budgets × head/relevant) raced on
  // the default model; configs whose pass rate cannot reach 90 % are dropped round by round.
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "tradeoff-e2e-search-"));
  const file = path.join(dir, "retrieval.yaml");
  fs.copyFileSync(path.resolve(import.meta.dirname, "../fixtures/experiments/retrieval.yaml"), file);
  await openAndRun(file);
  await waitInPage('[data-testid="race"]', "dropped \\S+ passage≤\\d+ ", 240_000, "the race showed no dropped config");
  assert.match(await (await browser.$('[data-testid="race"]')).getText(), /configs left, \d+ of the grid's 240 runs used/);
  await screenshot("race.png");
  await waitInPage('[data-testid="message"]', "completed", 300_000, "the racing search did not complete");

  await (await browser.$('[data-testid="tab-summary"]')).click();
  await browser.waitUntil(async () => (await browser.$$("table.summary tr.eliminated")).length >= 10, {
    timeout: 20_000,
    timeoutMsg: "the summary did not mark at least 10 dropped configs",
  });
  await (await browser.$('[data-testid="tab-charts"]')).click();
  const chart = await browser.$('[data-testid="budget-chart"]');
  await chart.waitForExist({ timeout: 20_000, timeoutMsg: "no budget chart was shown" });
  assert.match(await chart.getText(), /per passage budget/);
  await chart.scrollIntoView();
  await screenshot("budgets.png");
});
