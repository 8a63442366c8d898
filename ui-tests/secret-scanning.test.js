// Secret scanning as people use it, in a real browser: a GitLab data source added through the
// form (a project it cannot reach said beside the field), a full scan followed live to the end,
// the planted token found — shown only as a preview, never in any page — triaged with remarks,
// filtered by status and exported; a reader sees no buttons that change anything; the data
// source edited and deleted.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { config, launch, screenshot, logIn } = require("./harness");

const reader = {
  email: process.env.LABGATE_UI_READER_EMAIL,
  password: process.env.LABGATE_UI_READER_PASSWORD,
};
const planted = process.env.LABGATE_UI_PLANTED_TOKEN;
const SOURCES = "/secret-scanning/data-sources";
const FINDINGS = "/secret-scanning/findings";

async function submit(page, locator) {
  const [response] = await Promise.all([page.waitForNavigation(), locator.click()]);
  return response;
}

/** A screenshot from the top of the page, whatever a click scrolled to. */
async function shot(page, name, { dark = false } = {}) {
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    document.querySelectorAll(".table-wrap").forEach((wrap) => { wrap.scrollLeft = 0; });
  });
  await screenshot(page, name);
  if (dark) {
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, `${name}-dark`);
    await page.emulateMedia({ colorScheme: "light" });
  }
}

/** Waits for the newest scan to end (the page reloads itself then) and checks it completed. */
async function finished(page) {
  const newest = page.locator("tr[data-job-id]").first();
  await newest.locator('[data-job-state="completed"], [data-job-state="failed"]').waitFor({ timeout: 60000 })
    .catch(async (error) => { throw new Error(`${error.message}\n${await newest.innerText()}`); });
  await page.waitForLoadState("load");
  assert.equal(await newest.getAttribute("data-scan-status"), "completed", await newest.innerText());
}

test("secret scanning", async (t) => {
  assert.ok(planted, "LABGATE_UI_PLANTED_TOKEN is set by the integration test");
  const { context, close } = await launch();
  t.after(close);
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    // Forms shown again with their errors answer 4xx on purpose.
    const expected = /status of (400|409|422) /.test(message.text());
    if (message.type() === "error" && !expected) pageErrors.push(message.text());
  });
  page.on("dialog", (dialog) => dialog.accept());
  // Every page labgate answers is checked for the planted token.
  const leaks = [];
  page.on("response", async (response) => {
    if (!response.url().startsWith(config.url)) return;
    const body = await response.text().catch(() => "");
    if (body.includes(planted)) leaks.push(response.url());
  });
  await logIn(page);
  let sourceUrl;

  await t.test("a data source is refused for a project it cannot reach, then added", async () => {
    const sim = config.gitlabUrl.replace(/\/$/, "");
    const token = await context.request.post(`${sim}/-/sim/tokens`, {
      data: { kind: "personal", user: "alice", name: "secret-scanning", scopes: ["api"] },
    });
    assert.equal(token.status(), 201, await token.text());
    const created = await context.request.post(`${config.url}/api/v1/app-connections/gitlab`, {
      headers: { authorization: `Bearer ${config.apiKey}` },
      data: {
        name: "leaks-scanner",
        method: "access-token",
        credentials: { accessToken: (await token.json()).token, accessTokenType: "personal", instanceUrl: config.gitlabUrl },
      },
    });
    assert.equal(created.status(), 200, await created.text());
    const connectionId = (await created.json()).appConnection.id;

    await page.goto(`${config.url}${SOURCES}`);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Secret scanning");
    assert.equal(await page.locator('nav[aria-label="Main"] a[aria-current="page"]').textContent(), "Secret scanning");
    assert.equal(await page.getByRole("heading", { name: "No data sources yet" }).count(), 1);
    await shot(page, "scanning-empty");

    await submit(page, page.getByRole("link", { name: "Add data source" }).first());
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Add data source");
    await page.getByLabel("Name").fill("leaks-service");
    await page.getByLabel("Description").fill("The service that once committed its deploy token");
    await page.getByLabel("Connection").selectOption(connectionId);
    await page.getByLabel("Project or group").fill("leaks/nowhere");
    await page.getByLabel("Auto-scan").uncheck();
    const refused = await submit(page, page.getByRole("button", { name: "Add data source" }));
    assert.equal(refused.status(), 422);
    assert.match(await page.locator("#field-target-error").textContent(), /leaks\/nowhere/);
    assert.equal(await page.locator("#field-target").getAttribute("aria-invalid"), "true");
    assert.equal(await page.getByLabel("Name").inputValue(), "leaks-service", "what was typed stays");
    await shot(page, "scanning-source-invalid");

    await page.getByLabel("Project or group").fill("leaks/service");
    await submit(page, page.getByRole("button", { name: "Add data source" }));
    sourceUrl = new URL(page.url()).pathname;
    assert.match(sourceUrl, /^\/secret-scanning\/data-sources\/[0-9a-f-]{36}$/);
    assert.match(await page.locator(".flash.success").textContent(), /Data source leaks-service added/);
    assert.equal(await page.locator("tr[data-resource-id]").count(), 1);
    assert.match(await page.locator("tr[data-resource-id]").innerText(), /leaks\/service/);
    assert.equal(await page.getByText("No scan yet.").count(), 1);
  });

  await t.test("a full scan is followed live until it completes", async () => {
    // GitLab answers the clone slowly, so the page shows the scan running and follows it.
    const sim = config.gitlabUrl.replace(/\/$/, "");
    const slow = await context.request.post(`${sim}/-/sim/faults`, { data: { route: "/leaks/service.git", latency_ms: 2500 } });
    assert.ok(slow.ok(), await slow.text());
    const polled = [];
    page.on("response", (response) => {
      if (response.url().endsWith("/scans.json")) polled.push(response.status());
    });
    await submit(page, page.getByRole("button", { name: "Scan now" }));
    assert.equal(await page.locator(".flash.success").textContent(), "Scan queued: its progress shows below.");
    const scan = page.locator("tr[data-job-id]").first();
    assert.ok(["queued", "scanning"].includes(await scan.getAttribute("data-scan-status")));
    assert.equal(await page.locator("[data-live-jobs][data-live]").count(), 1, "a running scan is followed");
    assert.equal(await page.locator("[data-live-note]").textContent(), "updating live");
    // The row is updated in place while the scan runs: the page is not loaded again meanwhile.
    await page.evaluate(() => { window.labgateSamePage = true; });
    await page.waitForResponse((response) => response.url().endsWith("/scans.json"));
    await scan.locator('[data-job-state="scanning"]').waitFor({ timeout: 20000 });
    assert.equal(await page.evaluate(() => window.labgateSamePage), true, "updated in place");
    assert.equal(await page.locator('.header-badges [data-job-state="scanning"]').count(), 1, "the header follows too");
    assert.match(await scan.locator("[data-job-phase]").innerText(), /\S/);
    await shot(page, "scanning-live");
    await finished(page);
    assert.ok(polled.length > 0 && polled.every((status) => status === 200), `${polled}`);
    const cleared = await context.request.delete(`${sim}/-/sim/faults`);
    assert.ok(cleared.ok());
    const done = page.locator("tr[data-job-id]").first();
    assert.match(await done.innerText(), /Full scan/);
    assert.match(await done.locator("[data-job-counts]").innerText(), /1 finding · 1 new/);
    assert.equal(await done.locator("progress[data-job-bar]").getAttribute("value"), await done.locator("progress[data-job-bar]").getAttribute("max"));
    await shot(page, "scanning-source-scanned", { dark: true });

    // One repository again, from its row.
    await submit(page, page.getByRole("button", { name: "Scan leaks/service" }));
    await finished(page);
    assert.equal(await page.locator("tr[data-job-id]").count(), 2);
    assert.match(await page.locator("tr[data-job-id]").first().innerText(), /Repository leaks\/service/);
    assert.match(await page.locator("tr[data-job-id]").first().locator("[data-job-counts]").innerText(), /1 finding · 0 new/);

    await page.goto(`${config.url}${SOURCES}`);
    const listed = page.locator("tr[data-source-id]");
    assert.equal(await listed.count(), 1);
    assert.match(await listed.innerText(), /leaks-service[\s\S]*Project leaks\/service \(#\d+\)[\s\S]*leaks-scanner[\s\S]*1[\s\S]*Completed[\s\S]*Off/);
    await shot(page, "scanning-sources");
    await page.goto(`${config.url}${sourceUrl}`);
  });

  let findingRow;
  await t.test("the finding shows its rule, a preview, where and by whom, never the secret", async () => {
    await submit(page, page.getByRole("link", { name: "Findings of this data source" }));
    assert.match(page.url(), /\/secret-scanning\/findings\?data_source=/);
    findingRow = page.locator("tr[data-finding-id]");
    assert.equal(await findingRow.count(), 1);
    const text = await findingRow.innerText();
    assert.match(text, /gitlab-pat/);
    assert.match(text, /config\/deploy\.env:1/);
    assert.match(text, /leaks\/service/);
    const preview = await findingRow.locator("code.preview").textContent();
    assert.ok(preview.length > 0 && preview.length < planted.length && planted.startsWith(preview.replace(/[…*•.]+$/u, "")), preview);
    const link = await findingRow.getByRole("link", { name: "config/deploy.env:1" }).getAttribute("href");
    assert.match(link, /\/leaks\/service\/-\/blob\/[0-9a-f]{40}\/config\/deploy\.env#L1$/);
    assert.equal(await findingRow.locator('[data-verification]').count(), 1);
    assert.equal(await findingRow.locator('[data-finding-status="unresolved"]').count(), 1);
    assert.match(await page.locator("nav.pager").innerText(), /^1 finding$/);
    assert.ok(!(await page.content()).includes(planted), "the secret is not in the page");
    await shot(page, "scanning-findings", { dark: true });
  });

  await t.test("a finding is resolved with remarks, and the status filter finds it", async () => {
    await findingRow.getByText("Change status").click();
    await findingRow.getByLabel("Status").selectOption("resolved");
    await findingRow.getByLabel("Remarks").fill("Token revoked at GitLab on rotation day");
    await shot(page, "scanning-finding-triage");
    await submit(page, findingRow.getByRole("button", { name: "Save" }));
    assert.match(await page.locator(".flash.success").textContent(), /marked resolved/);
    assert.match(page.url(), /data_source=/, "back on the same filtered view");
    assert.equal(await findingRow.locator('[data-finding-status="resolved"]').count(), 1);
    assert.equal(await findingRow.locator("[data-remarks]").textContent(), "Token revoked at GitLab on rotation day");

    await page.goto(`${config.url}${FINDINGS}`);
    await page.getByLabel("Status").first().selectOption("unresolved");
    await submit(page, page.getByRole("button", { name: "Filter" }));
    assert.match(page.url(), /status=unresolved/);
    assert.equal(await page.locator("tr[data-finding-id]").count(), 0);
    assert.equal(await page.getByRole("heading", { name: "No findings match these filters" }).count(), 1);
    await page.locator("#filter-status").selectOption("resolved");
    await page.locator("#filter-path").fill("DEPLOY.env");
    await submit(page, page.getByRole("button", { name: "Filter" }));
    assert.equal(await page.locator("tr[data-finding-id]").count(), 1);
    await shot(page, "scanning-findings-filtered");

    const csvHref = await page.getByRole("link", { name: "CSV" }).getAttribute("href");
    assert.match(csvHref, /format=csv&status=resolved&path=DEPLOY.env/);
    const csv = await context.request.get(`${config.url}${csvHref}`);
    assert.equal(csv.status(), 200);
    assert.match(csv.headers()["content-type"], /^text\/csv/);
    const body = await csv.text();
    assert.match(body, /^id,rule,/);
    assert.match(body, /config\/deploy\.env/);
    assert.ok(!body.includes(planted), "the export holds no secret");
    const sarif = await context.request.get(`${config.url}${await page.getByRole("link", { name: "SARIF" }).getAttribute("href")}`);
    assert.equal((await sarif.json()).version, "2.1.0");
  });

  await t.test("a reader reads findings and scans but changes nothing", async () => {
    const { context: readerContext, close: closeReader } = await launch();
    try {
      const readerPage = readerContext.pages()[0] || (await readerContext.newPage());
      await logIn(readerPage, reader.email, reader.password);
      await readerPage.goto(`${config.url}${FINDINGS}`);
      assert.equal(await readerPage.locator("tr[data-finding-id]").count(), 1);
      assert.equal(await readerPage.getByText("Change status").count(), 0);
      await shot(readerPage, "scanning-findings-reader");
      await readerPage.goto(`${config.url}${sourceUrl}`);
      assert.equal(await readerPage.getByRole("button", { name: "Scan now" }).count(), 0);
      assert.equal(await readerPage.getByRole("button", { name: /^Scan / }).count(), 0);
      const refused = await readerPage.goto(`${config.url}${SOURCES}/new`);
      assert.equal(refused.status(), 403);
    } finally {
      await closeReader();
    }
  });

  await t.test("the data source is edited, then deleted after a confirmation", async () => {
    await page.goto(`${config.url}${sourceUrl}`);
    await submit(page, page.getByRole("link", { name: "Edit", exact: true }));
    assert.match(await page.getByLabel("Project or group").inputValue(), /^\d+$/, "stored as the numeric id");
    await page.getByLabel("Description").fill("Scanned on every push");
    await page.getByLabel("Auto-scan").check();
    await submit(page, page.getByRole("button", { name: "Save changes" }));
    assert.equal(await page.locator(".flash.success").textContent(), "Data source leaks-service saved.");
    assert.match(await page.locator("header.page-header").innerText(), /Scanned on every push/);

    await page.getByRole("button", { name: "Delete", exact: true }).click();
    const dialog = page.locator("dialog#delete-source");
    await dialog.waitFor({ state: "visible" });
    await submit(page, dialog.getByRole("button", { name: "Delete data source" }));
    assert.equal(new URL(page.url()).pathname, SOURCES);
    assert.equal(await page.locator(".flash.success").textContent(), "Data source leaks-service deleted.");
    assert.equal(await page.getByRole("heading", { name: "No data sources yet" }).count(), 1);
  });

  assert.deepEqual(leaks, [], "no page or document labgate answered held the secret");
  assert.deepEqual(pageErrors, []);
});
