// The secrets store and secret syncs as people use them, in a real browser: a project with its
// environments, secrets added (a bad key and a duplicate said on the form), a value revealed and
// copied, an edit making a new version, the history with a roll back, folders, a .env import,
// then a sync to a gitlab-sim project — refused for a project it cannot reach, planned, run and
// followed live to the end, its results — and a reader who sees no write buttons.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { config, launch, screenshot, logIn } = require("./harness");

const reader = {
  email: process.env.LABGATE_UI_READER_EMAIL,
  password: process.env.LABGATE_UI_READER_PASSWORD,
};
const SECRETS = "/secrets";
const SYNCS = "/secret-syncs";

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

function row(page, key) {
  return page.locator(`tr[data-secret-key="${key}"]`);
}

async function addSecret(page, key, value, comment = "") {
  await page.getByRole("button", { name: "Add secret" }).first().click();
  const dialog = page.locator("dialog#add-secret");
  await dialog.waitFor({ state: "visible" });
  await dialog.getByLabel("Key").fill(key);
  await dialog.getByLabel("Value").fill(value);
  if (comment) await dialog.getByLabel("Comment").fill(comment);
  return submit(page, dialog.getByRole("button", { name: "Add secret" }));
}

test("secrets and secret syncs", async (t) => {
  const { context, close } = await launch();
  t.after(close);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: config.url });
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    // Forms shown again with their errors answer 4xx on purpose.
    const expected = /status of (400|409|422) /.test(message.text());
    if (message.type() === "error" && !expected) pageErrors.push(message.text());
  });
  const confirmations = [];
  page.on("dialog", async (dialog) => {
    confirmations.push(dialog.message());
    await dialog.accept();
  });
  await logIn(page);
  let projectUrl;
  let syncUrl;
  // The GitLab token of the sync's connection, also used to look at the variables it writes.
  let simToken;

  await t.test("a project is created with the default environments", async () => {
    await page.goto(`${config.url}${SECRETS}`);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Secrets");
    assert.equal(await page.getByRole("heading", { name: "No projects yet" }).count(), 1);
    await shot(page, "secrets-empty");
    await page.getByRole("button", { name: "Create project" }).first().click();
    const dialog = page.locator("dialog#create-project");
    await dialog.waitFor({ state: "visible" });
    await dialog.getByLabel("Name").fill("Payments API");
    assert.equal(await dialog.getByLabel("Environments").inputValue(), "dev, staging, prod");
    await shot(page, "secrets-create-project-dialog");
    await submit(page, dialog.getByRole("button", { name: "Create project" }));
    projectUrl = new URL(page.url()).pathname;
    assert.match(projectUrl, /^\/secrets\/[0-9a-f-]{36}$/);
    assert.equal(await page.locator(".flash.success").textContent(), "Project Payments API created.");
    const tabs = await page.locator("nav.env-tabs a").allInnerTexts();
    assert.deepEqual(tabs.map((tab) => tab.replace(/\s+/g, " ").trim()), ["Development dev", "Staging staging", "Production prod"]);
    assert.equal(await page.locator('nav.env-tabs a[aria-current="page"]').innerText(), "Development dev");
    await shot(page, "secrets-project-empty");
  });

  await t.test("secrets are added; a bad key and a duplicate are said on the form", async () => {
    const bad = await addSecret(page, "BAD KEY", "x");
    assert.equal(bad.status(), 422);
    assert.match(await page.locator("#add-key-error").textContent(), /secret key is 1–256 ASCII letters/);
    assert.equal(await page.locator("#add-key").getAttribute("aria-invalid"), "true");
    await shot(page, "secret-invalid-key");

    await page.goto(`${config.url}${projectUrl}`);
    await addSecret(page, "DATABASE_URL", "postgres://db.internal/payments", "Primary database");
    assert.equal(await page.locator(".flash.success").textContent(), "Secret DATABASE_URL added.");
    await addSecret(page, "API_TOKEN", "tok-1234567890");
    const duplicate = await addSecret(page, "API_TOKEN", "again");
    assert.equal(duplicate.status(), 409);
    assert.match(await page.locator("#add-key-error").textContent(), /already exists/);
    await page.goto(`${config.url}${projectUrl}`);
    assert.deepEqual(
      await page.locator("tr[data-secret-key]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-secret-key"))),
      ["API_TOKEN", "DATABASE_URL"],
    );
    assert.ok(!(await page.content()).includes("postgres://db.internal"), "values are not in the page");
    assert.match(await row(page, "DATABASE_URL").innerText(), /Primary database/);
  });

  await t.test("a value is revealed and copied on request", async () => {
    const database = row(page, "DATABASE_URL");
    assert.equal(await database.locator("[data-secret-value]").textContent(), "••••••••");
    await database.getByRole("button", { name: "Reveal DATABASE_URL" }).click();
    await database.locator("[data-secret-value].revealed").waitFor();
    assert.equal(await database.locator("[data-secret-value]").textContent(), "postgres://db.internal/payments");
    await database.getByRole("button", { name: "Copy DATABASE_URL" }).click();
    await database.getByRole("button", { name: "Copy DATABASE_URL" }).filter({ hasText: "Copied" }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "postgres://db.internal/payments");
    await shot(page, "secrets-folder", { dark: true });
    await database.getByRole("button", { name: "Reveal DATABASE_URL" }).click();
    assert.equal(await database.locator("[data-secret-value]").textContent(), "••••••••", "hidden again");
    const refused = await context.request.get(`${config.url}${projectUrl}/value?env=dev&path=%2F&key=API_TOKEN`);
    assert.equal(refused.status(), 403, "no value without the page's token");
  });

  await t.test("an edit makes a new version; the history rolls it back", async () => {
    await row(page, "DATABASE_URL").getByRole("button", { name: "Edit DATABASE_URL" }).click();
    const dialog = page.locator("dialog#edit-secret-1");
    await dialog.waitFor({ state: "visible" });
    await dialog.getByLabel("New value").fill("postgres://db-2.internal/payments");
    await shot(page, "secret-edit-dialog");
    await submit(page, dialog.getByRole("button", { name: "Save secret" }));
    assert.equal(await page.locator(".flash.success").textContent(), "Secret DATABASE_URL saved (version 2).");
    assert.match(await row(page, "DATABASE_URL").locator("td").nth(2).innerText(), /v2/);

    await submit(page, row(page, "DATABASE_URL").getByRole("link", { name: "History of DATABASE_URL" }));
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "History of DATABASE_URL");
    const versions = await page.locator("tr[data-version]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-version")));
    assert.deepEqual(versions, ["2", "1"], "newest first");
    assert.match(await page.locator('tr[data-version="2"]').innerText(), /Current/);
    assert.match(await page.locator('tr[data-version="1"]').innerText(), new RegExp(config.email.toLowerCase().replace(/\./g, "\\.")));
    const first = page.locator('tr[data-version="1"]');
    await first.getByRole("button", { name: "Reveal DATABASE_URL version 1" }).click();
    await first.locator("[data-secret-value].revealed").waitFor();
    assert.equal(await first.locator("[data-secret-value]").textContent(), "postgres://db.internal/payments");
    assert.equal(await page.locator('tr[data-version="2"]').getByRole("button", { name: "Roll back to this version" }).count(), 0);
    await shot(page, "secret-history");
    await submit(page, first.getByRole("button", { name: "Roll back to this version" }));
    assert.match(confirmations.at(-1), /Make version 1 of DATABASE_URL current again\?/);
    assert.equal(await page.locator(".flash.success").textContent(), "DATABASE_URL rolled back to version 1: it is now version 3.");
    assert.deepEqual(
      await page.locator("tr[data-version]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-version"))),
      ["3", "2", "1"],
    );
    const current = page.locator('tr[data-version="3"]');
    await current.getByRole("button", { name: /^Reveal/ }).click();
    await current.locator("[data-secret-value].revealed").waitFor();
    assert.equal(await current.locator("[data-secret-value]").textContent(), "postgres://db.internal/payments");
  });

  await t.test("folders: a path is opened, filled and listed; a bad path is refused", async () => {
    await page.goto(`${config.url}${projectUrl}`);
    await page.getByLabel("Folder path").fill("/app/db");
    await submit(page, page.getByRole("button", { name: "Go to folder" }));
    assert.equal(await page.getByRole("heading", { name: "This folder is empty" }).count(), 1);
    assert.deepEqual(await page.locator("nav.folder-trail a").allInnerTexts(), ["/", "app", "db"]);
    await addSecret(page, "POOL_SIZE", "5");
    assert.equal(new URL(page.url()).searchParams.get("path"), "/app/db");
    assert.equal(await row(page, "POOL_SIZE").count(), 1);
    await submit(page, page.locator("nav.folder-trail").getByRole("link", { name: "/" }));
    assert.equal(await page.locator("tr.folder-row").innerText(), "▸ app/");
    assert.equal(await row(page, "POOL_SIZE").count(), 0, "a sub-folder's secret is not listed above it");
    await shot(page, "secrets-folders");
    const bad = await page.goto(`${config.url}${projectUrl}?env=dev&path=${encodeURIComponent("/a b")}`);
    assert.equal(bad.status(), 400);
    assert.equal(await page.getByRole("heading", { name: "This address names no folder" }).count(), 1);
  });

  await t.test("a .env file is imported, then imported again with overwrite", async () => {
    await page.goto(`${config.url}${projectUrl}?env=prod`);
    assert.equal(await page.locator('nav.env-tabs a[aria-current="page"]').innerText(), "Production prod");
    await page.getByRole("button", { name: "Import .env" }).click();
    const dialog = page.locator("dialog#import-dotenv");
    await dialog.waitFor({ state: "visible" });
    await dialog.getByLabel(".env content").fill("# payments\nDATABASE_URL=postgres://prod.internal/payments\nAPI_TOKEN=tok-prod-0001\n");
    await shot(page, "secrets-import-dialog");
    await submit(page, dialog.getByRole("button", { name: "Import" }));
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), ".env imported");
    const created = page.locator(".import-group", { hasText: "Created" });
    assert.deepEqual(await created.locator(".chip").allInnerTexts(), ["DATABASE_URL", "API_TOKEN"]);

    await page.goto(`${config.url}${projectUrl}?env=prod`);
    await page.getByRole("button", { name: "Import .env" }).click();
    await dialog.getByLabel(".env content").fill("DATABASE_URL=postgres://prod.internal/payments\nAPI_TOKEN=tok-prod-0002\n");
    await dialog.getByLabel("Overwrite secrets that already exist").check();
    await submit(page, dialog.getByRole("button", { name: "Import" }));
    assert.deepEqual(await page.locator(".import-group", { hasText: "Updated" }).locator(".chip").allInnerTexts(), ["API_TOKEN"]);
    assert.deepEqual(await page.locator(".import-group", { hasText: "Unchanged" }).locator(".chip").allInnerTexts(), ["DATABASE_URL"]);
    assert.equal(await page.locator(".import-group", { hasText: "Created" }).locator(".chip").count(), 0);
    await shot(page, "secrets-import-result");
  });

  await t.test("a sync is refused for a project it cannot reach, then created and planned", async () => {
    // A connection of alice's, a Maintainer of the acme group the simulator was seeded with.
    const sim = config.gitlabUrl.replace(/\/$/, "");
    const token = await context.request.post(`${sim}/-/sim/tokens`, {
      data: { kind: "personal", user: "alice", name: "secret-syncs", scopes: ["api"] },
    });
    assert.equal(token.status(), 201, await token.text());
    simToken = (await token.json()).token;
    const created = await context.request.post(`${config.url}/api/v1/app-connections/gitlab`, {
      headers: { authorization: `Bearer ${config.apiKey}` },
      data: {
        name: "acme-syncs",
        method: "access-token",
        credentials: { accessToken: simToken, accessTokenType: "personal", instanceUrl: config.gitlabUrl },
      },
    });
    assert.equal(created.status(), 200, await created.text());
    const connectionId = (await created.json()).appConnection.id;

    await page.goto(`${config.url}${projectUrl}`);
    await submit(page, page.locator("nav.tabs").getByRole("link", { name: "Secret syncs" }));
    assert.equal(await page.getByRole("heading", { name: "No syncs for this project" }).count(), 1);
    await submit(page, page.getByRole("link", { name: "Add sync" }).first());
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Add secret sync");
    await page.getByLabel("Environment", { exact: true }).selectOption("prod");
    await page.getByLabel("Connection").selectOption(connectionId);
    await page.getByLabel("Project or group").fill("acme/nowhere");
    await page.locator('input[name="auto_sync"]').uncheck();
    await page.getByLabel("Name", { exact: true }).fill("payments-prod");
    await shot(page, "secret-sync-new");
    const refused = await submit(page, page.getByRole("button", { name: "Create sync" }));
    assert.equal(refused.status(), 422);
    assert.match(await page.locator("#field-destination_id-error").textContent(), /cannot reach the GitLab project "acme\/nowhere"/);
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "payments-prod", "what was typed is kept");
    await shot(page, "secret-sync-unreachable");

    await page.getByLabel("Project or group").fill("acme/api");
    await page.locator('input[name="mask"]').check();
    await submit(page, page.getByRole("button", { name: "Create sync" }));
    syncUrl = new URL(page.url()).pathname;
    assert.match(syncUrl, /^\/secret-syncs\/[0-9a-f-]{36}$/);
    assert.equal(await page.locator(".flash.success").textContent(), "Secret sync payments-prod created.");
    assert.equal(await page.locator(".header-badges [data-sync-status]").getAttribute("data-sync-status"), "none");
    assert.match(await page.locator("#destination-title + dl").innerText(), /Project acme\/api/);
    const plan = page.locator("section.plan tbody tr");
    assert.deepEqual(
      await plan.evaluateAll((rows) => rows.map((r) => [r.cells[0].textContent, r.querySelector("[data-action]").dataset.action])),
      [["API_TOKEN", "create"], ["DATABASE_URL", "create"]],
    );
    await shot(page, "secret-sync-plan", { dark: true });
  });

  await t.test("Sync now runs it; the page follows the job to the end and shows the results", async () => {
    await submit(page, page.getByRole("button", { name: "Sync now" }));
    assert.equal(await page.locator(".flash.success").textContent(), "Sync queued: the bar below follows it.");
    assert.equal(await page.locator(".job-card progress[data-job-bar]").count(), 1);
    await shot(page, "secret-sync-queued");
    // The page reloads itself when the job ends.
    await page.locator('.header-badges [data-sync-status="succeeded"]').waitFor({ timeout: 30000 });
    assert.match(await page.locator(".job-card [data-job-state]").getAttribute("data-job-state"), /succeeded/);
    const results = page.locator("section.results tbody tr");
    assert.equal(await results.count(), 2);
    assert.deepEqual((await results.locator("td:nth-child(3)").allInnerTexts()).map((s) => s.trim()), ["Written", "Written"]);
    const actions = await page.locator("section.plan [data-action]").evaluateAll((badges) => badges.map((b) => b.dataset.action));
    assert.deepEqual(actions, ["unchanged", "unchanged"], "nothing left to do");
    await shot(page, "secret-sync-succeeded", { dark: true });

    const sim = config.gitlabUrl.replace(/\/$/, "");
    const variables = await context.request.get(`${sim}/api/v4/projects/${encodeURIComponent("acme/api")}/variables`, {
      headers: { "private-token": simToken },
    });
    assert.equal(variables.status(), 200, await variables.text());
    const byKey = Object.fromEntries((await variables.json()).map((v) => [v.key, v]));
    assert.equal(byKey.API_TOKEN.value, "tok-prod-0002");
    assert.equal(byKey.DATABASE_URL.masked, true);

    await page.goto(`${config.url}${SYNCS}`);
    const listed = page.locator("tr[data-sync-id]");
    assert.equal(await listed.count(), 1);
    const cells = (await listed.locator("td").allInnerTexts()).map((text) => text.trim());
    assert.match(cells[0], /payments-prod/);
    assert.match(cells[1], /Project acme\/api/);
    assert.match(cells[2], /Succeeded/);
    assert.match(cells[3], /just now|minute/);
    assert.equal(cells[4], "Off");
    assert.match(await listed.locator("time").getAttribute("title"), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    await shot(page, "secret-syncs-list", { dark: true });
  });

  await t.test("a reader sees secrets and syncs without any write button", async () => {
    assert.ok(reader.email && reader.password, "LABGATE_UI_READER_EMAIL and _PASSWORD are set");
    const readerBrowser = await launch();
    try {
      const readerPage = readerBrowser.context.pages()[0] || (await readerBrowser.context.newPage());
      await logIn(readerPage, reader.email, reader.password);
      await readerPage.goto(`${config.url}${SECRETS}`);
      assert.equal(await readerPage.getByRole("button", { name: "Create project" }).count(), 0);
      assert.equal(await readerPage.getByRole("button", { name: /^Delete/ }).count(), 0);
      await readerPage.goto(`${config.url}${projectUrl}`);
      for (const name of ["Add secret", "Import .env", "Edit DATABASE_URL", "Delete DATABASE_URL"]) {
        assert.equal(await readerPage.getByRole("button", { name }).count(), 0, name);
      }
      assert.equal(await readerPage.getByRole("button", { name: "Reveal DATABASE_URL" }).count(), 1, "reading is allowed");
      await shot(readerPage, "secrets-reader");
      await readerPage.goto(`${config.url}${syncUrl}`);
      for (const name of ["Sync now", "Import", "Remove synced variables", "Delete"]) {
        assert.equal(await readerPage.getByRole("button", { name, exact: true }).count(), 0, name);
      }
      assert.equal(await readerPage.locator("section.results tbody tr").count(), 2);
      const refused = await readerPage.goto(`${config.url}${SYNCS}/new`);
      assert.equal(refused.status(), 403);
      assert.equal(await readerPage.getByRole("heading", { name: "Your role cannot do this" }).count(), 1);
    } finally {
      await readerBrowser.close();
    }
  });

  await t.test("the sync is deleted with its variables, then the project", async () => {
    await page.goto(`${config.url}${syncUrl}`);
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    const dialog = page.locator("dialog#delete-sync");
    await dialog.waitFor({ state: "visible" });
    await dialog.getByLabel("Also delete the variables it wrote at GitLab").check();
    await shot(page, "secret-sync-delete-dialog");
    await submit(page, dialog.getByRole("button", { name: "Delete sync" }));
    assert.equal(await page.locator(".flash.success").textContent(), "Secret sync payments-prod deleted with the variables it wrote.");
    const sim = config.gitlabUrl.replace(/\/$/, "");
    const variables = await context.request.get(`${sim}/api/v4/projects/${encodeURIComponent("acme/api")}/variables`, {
      headers: { "private-token": simToken },
    });
    assert.deepEqual(await variables.json(), []);

    await page.goto(`${config.url}${SECRETS}`);
    await submit(page, page.getByRole("button", { name: "Delete Payments API" }));
    assert.match(confirmations.at(-1), /Delete the project Payments API with every secret in it\?/);
    assert.equal(await page.locator(".flash.success").textContent(), "Project Payments API deleted.");
    assert.equal(await page.getByRole("heading", { name: "No projects yet" }).count(), 1);
  });

  await t.test("no script errors on any page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
