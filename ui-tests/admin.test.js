// The tenant administration pages as an administrator uses them, in a real browser, in a tenant
// of their own that starts empty: GitLab instances (an invalid URL said on the form, the redirect
// URI to copy, delete), API keys (the token shown once, revoke), jobs (a rotation's progress
// followed without reloading) and the audit log (what was just done, filtered by action). Each
// step saves a screenshot for people to look at.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { config, launch, screenshot, logIn } = require("./harness");

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through cargo test -p labgate --test it ui`);
  return value;
}

const admin = {
  email: required("LABGATE_UI_ADMIN_EMAIL"),
  password: required("LABGATE_UI_ADMIN_PASSWORD"),
};
const INSTANCES = "/organization/gitlab-instances";
const KEYS = "/organization/api-keys";
const JOBS = "/organization/jobs";
const AUDIT = "/organization/audit-logs";
const CALLBACK = "/organization/app-connections/gitlab/oauth/callback";

async function submit(page, name) {
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole("button", { name, exact: true }).click(),
  ]);
  return response;
}

/** A screenshot from the top of the page, whatever a click scrolled to. */
async function shot(page, name) {
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    document.querySelectorAll(".table-wrap").forEach((wrap) => { wrap.scrollLeft = 0; });
  });
  await screenshot(page, name);
}

async function cells(row) {
  return (await row.locator("td").allInnerTexts()).map((text) => text.trim());
}

test("the tenant administration pages", async (t) => {
  const { context, close } = await launch();
  t.after(close);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: config.url });
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    // Forms shown again with their errors answer 400 on purpose.
    const expected = /status of 400 /.test(message.text());
    if (message.type() === "error" && !expected) pageErrors.push(message.text());
  });
  const confirmations = [];
  page.on("dialog", async (dialog) => {
    confirmations.push(dialog.message());
    await dialog.accept();
  });
  await logIn(page, admin.email, admin.password);
  let apiToken;
  let connectionId;

  await t.test("GitLab instances: empty, with the redirect URI to copy", async () => {
    await page.goto(`${config.url}${INSTANCES}`);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "GitLab instances");
    assert.equal(await page.getByRole("heading", { name: "No GitLab instances registered" }).count(), 1);
    const redirect = page.locator(".callout [data-redirect-uri]");
    const uri = (await redirect.textContent()).trim();
    assert.ok(uri.endsWith(CALLBACK), uri);
    const copy = page.locator(".callout").getByRole("button", { name: "Copy" });
    assert.equal(await copy.getAttribute("data-copy"), uri);
    await copy.click();
    await page.locator(".callout").getByRole("button", { name: "Copied" }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), uri);
    assert.match(await page.locator("#default-title").textContent(), /Default instance/);
    await shot(page, "gitlab-instances-empty");
  });

  await t.test("an invalid URL is said under its field; a valid one is added", async () => {
    await Promise.all([page.waitForNavigation(), page.getByRole("link", { name: "Add instance" }).first().click()]);
    await page.getByLabel("Instance URL").fill("ftp://git.globex.example");
    await page.getByLabel("OAuth application ID").fill("globex-app");
    await page.getByLabel("OAuth client secret").fill("gloas-globex-secret");
    const refused = await submit(page, "Add instance");
    assert.equal(refused.status(), 400);
    const error = page.locator("#field-url-error");
    assert.match(await error.textContent(), /URL/);
    assert.equal(await page.getByLabel("Instance URL").getAttribute("aria-invalid"), "true");
    assert.equal(await page.getByLabel("Instance URL").inputValue(), "ftp://git.globex.example", "what was typed is kept");
    assert.equal(await page.getByLabel("OAuth client secret").inputValue(), "", "the secret is not sent back");
    await shot(page, "gitlab-instance-invalid-url");

    await page.getByLabel("Instance URL").fill("https://git.globex.example/gitlab/");
    await page.getByLabel("OAuth client secret").fill("gloas-globex-secret");
    await page.getByLabel("CA bundle").fill("");
    await submit(page, "Add instance");
    assert.equal(new URL(page.url()).pathname, INSTANCES);
    assert.equal(await page.locator(".flash.success").textContent(), "GitLab instance git.globex.example/gitlab added.");
    const row = page.locator("table.data tbody tr");
    assert.equal(await row.count(), 1);
    const [instance, oauth, network, connections] = await cells(row.first());
    assert.match(instance, /git\.globex\.example\/gitlab/);
    assert.match(instance, /Self-managed/);
    assert.match(oauth, /Configured/);
    assert.match(oauth, /globex-app/);
    assert.match(network, /Public CAs, direct/);
    assert.equal(connections, "0");
    assert.ok(!(await page.content()).includes("gloas-globex-secret"), "the secret never comes back");
    await shot(page, "gitlab-instances-list");
  });

  await t.test("an instance is edited with its secret kept, and deleted after a confirmation", async () => {
    await Promise.all([page.waitForNavigation(), page.getByRole("link", { name: "Edit" }).click()]);
    assert.match(await page.locator("#field-oauth_client_secret-hint").textContent(), /Leave blank to keep it/);
    await page.getByLabel("Proxy").fill("http://proxy.globex.example:3128");
    await shot(page, "gitlab-instance-edit");
    await submit(page, "Save changes");
    assert.equal(await page.locator(".flash.success").textContent(), "GitLab instance git.globex.example/gitlab saved.");
    const [, oauth, network] = await cells(page.locator("table.data tbody tr").first());
    assert.match(oauth, /Configured/, "the blank secret kept the stored one");
    assert.match(network, /Proxy proxy\.globex\.example/);

    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Delete git.globex.example/gitlab" }).click()]);
    assert.match(confirmations.at(-1), /Delete the GitLab instance git\.globex\.example\/gitlab\?/);
    assert.equal(await page.locator(".flash.success").textContent(), "GitLab instance git.globex.example/gitlab deleted.");
    assert.equal(await page.getByRole("heading", { name: "No GitLab instances registered" }).count(), 1);
  });

  await t.test("API keys: empty, then a key whose token is shown once", async () => {
    await page.goto(`${config.url}${KEYS}`);
    assert.equal(await page.getByRole("heading", { name: "No API keys yet" }).count(), 1);
    await shot(page, "api-keys-empty");
    await page.getByRole("button", { name: "Create API key" }).first().click();
    const dialog = page.locator("dialog#create-api-key");
    await dialog.waitFor({ state: "visible" });
    await dialog.getByLabel("Name").fill("ci-rotation");
    await dialog.getByLabel(/^Member/).check();
    await dialog.getByLabel("Expires").selectOption("90");
    await shot(page, "api-key-create-dialog");
    await Promise.all([page.waitForNavigation(), dialog.getByRole("button", { name: "Create key" }).click()]);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "API key created");
    assert.match(await page.locator(".flash.warning").textContent(), /shown only this once/);
    apiToken = await page.locator("#created-token").inputValue();
    assert.match(apiToken, /^lgk_/);
    assert.equal(await page.getByRole("button", { name: "Copy token" }).getAttribute("data-copy"), apiToken);
    await shot(page, "api-key-created");

    await Promise.all([page.waitForNavigation(), page.getByRole("link", { name: "Done, I have copied it" }).click()]);
    assert.ok(!(await page.content()).includes(apiToken), "the list never shows the token");
    const [name, role, prefix, , lastUsed, expires, status] = await cells(page.locator("table.data tbody tr").first());
    assert.equal(name, "ci-rotation");
    assert.equal(role, "Member");
    assert.ok(apiToken.startsWith(prefix.replace("…", "")), `${prefix} is how the token starts`);
    assert.equal(lastUsed, "Never");
    assert.match(expires, /^in (3 months|\d+ days)$/);
    assert.equal(status, "Active");
  });

  await t.test("a key made for nothing else is revoked after a confirmation", async () => {
    await page.getByRole("button", { name: "Create API key" }).first().click();
    const dialog = page.locator("dialog#create-api-key");
    await dialog.getByLabel("Name").fill("short-lived");
    await dialog.getByLabel(/^Reader/).check();
    await Promise.all([page.waitForNavigation(), dialog.getByRole("button", { name: "Create key" }).click()]);
    const shortLived = await page.locator("#created-token").inputValue();
    await page.goto(`${config.url}${KEYS}`);
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Revoke short-lived" }).click()]);
    assert.match(confirmations.at(-1), /Revoke the API key short-lived\?/);
    assert.match(await page.locator(".flash.success").textContent(), /API key short-lived revoked/);
    const row = page.locator("tr", { hasText: "short-lived" });
    assert.match((await cells(row))[6], /Revoked/);
    assert.equal(await page.getByRole("button", { name: "Revoke short-lived" }).count(), 0);
    const refused = await context.request.get(`${config.url}/api/v1/app-connections`, {
      headers: { authorization: `Bearer ${shortLived}` },
    });
    assert.equal(refused.status(), 401, "a revoked key stops working");
    await shot(page, "api-keys-list");
  });

  await t.test("jobs: empty, then a rotation followed live without reloading", async (step) => {
    await page.goto(`${config.url}${JOBS}`);
    assert.equal(await page.getByRole("heading", { name: "No jobs yet" }).count(), 1);
    await shot(page, "jobs-empty");

    // A GitLab token of this tenant's own, so rotating it touches no other test's token.
    const sim = config.gitlabUrl.replace(/\/$/, "");
    const token = await context.request.post(`${sim}/-/sim/tokens`, {
      data: { kind: "personal", user: "alice", name: "admin-pages", scopes: ["api"] },
    });
    assert.equal(token.status(), 201, await token.text());
    const auth = { authorization: `Bearer ${apiToken}` };
    const created = await context.request.post(`${config.url}/api/v1/app-connections/gitlab`, {
      headers: auth,
      data: {
        name: "globex-ci",
        method: "access-token",
        credentials: { accessToken: (await token.json()).token, accessTokenType: "personal", instanceUrl: config.gitlabUrl },
      },
    });
    assert.equal(created.status(), 200, await created.text());
    connectionId = (await created.json()).appConnection.id;

    // GitLab takes its time over the rotation, so the job is seen running.
    const slow = await context.request.post(`${sim}/-/sim/faults`, {
      data: { route: "/api/v4/personal_access_tokens", method: "POST", latency_ms: 6000 },
    });
    assert.equal(slow.status(), 204, await slow.text());
    step.after(() => context.request.delete(`${sim}/-/sim/faults`));
    const rotation = context.request.post(`${config.url}/api/v1/app-connections/gitlab/${connectionId}/rotate`, {
      headers: auth,
      timeout: 60000,
    });
    const running = page.locator('tr[data-job-id]:has([data-job-state="running"])');
    for (let tries = 0; tries < 40 && (await running.count()) === 0; tries += 1) {
      await page.waitForTimeout(150);
      await page.goto(`${config.url}${JOBS}`);
    }
    assert.equal(await running.count(), 1, "the rotation is listed as running");
    const row = page.locator("tr[data-job-id]").first();
    const [kind, state, progress] = await cells(row);
    assert.match(kind, /Token rotation/);
    assert.equal(state, "Running");
    assert.equal(progress, "Working");
    assert.equal(await row.locator("progress").count(), 1);
    assert.equal(await row.locator("progress").getAttribute("value"), null, "no total yet: an indeterminate bar");
    await shot(page, "jobs-running");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot(page, "jobs-running-dark");
    await page.emulateMedia({ colorScheme: "light" });

    await page.evaluate(() => { window.stillTheSamePage = true; });
    await row.locator('[data-job-state="succeeded"]').waitFor({ timeout: 30000 });
    assert.equal(await page.evaluate(() => window.stillTheSamePage), true, "updated in place, not reloaded");
    assert.match((await cells(row))[1], /Succeeded/);
    const bar = row.locator("progress");
    assert.equal(await bar.getAttribute("value"), await bar.getAttribute("max"), "a full bar");
    assert.match((await cells(row))[4], /just now/);
    assert.match(await page.locator("[data-live-note]").textContent(), /all finished/);
    const answer = await rotation;
    assert.ok([200, 202].includes(answer.status()), await answer.text());
    await shot(page, "jobs-finished");

    await Promise.all([page.waitForNavigation(), row.getByRole("link", { name: "Token rotation" }).click()]);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Token rotation");
    assert.match(await page.locator("dl.facts").innerText(), /Succeeded/);
    await shot(page, "job-detail");
  });

  await t.test("the audit log lists what was just done and filters by action", async () => {
    await page.goto(`${config.url}${AUDIT}`);
    const actions = await page.locator("table.data tbody tr td:nth-child(3) .badge").allInnerTexts();
    for (const action of [
      "user.login",
      "gitlab-instance.create",
      "gitlab-instance.update",
      "gitlab-instance.delete",
      "api-key.create",
      "api-key.revoke",
      "app-connection.create",
    ]) {
      assert.ok(actions.includes(action), `${action} in ${actions}`);
    }
    assert.equal(actions.at(-1), "tenant.create", "newest first: the tenant's creation is last");
    const revoke = page.locator("tr", { has: page.locator(".badge", { hasText: "api-key.revoke" }) });
    assert.match((await cells(revoke))[1], new RegExp(admin.email.replace(/\./g, "\\.")));
    const created = page.locator("tr", { has: page.locator(".badge", { hasText: /^app-connection\.create$/ }) });
    assert.equal(
      await created.getByRole("link").getAttribute("href"),
      `/organization/app-connections/${connectionId}`,
      "a connection links to its page",
    );
    assert.match((await cells(created))[1], /ci-rotation/, "API keys are named");
    const time = page.locator("table.data tbody tr time").first();
    assert.match(await time.getAttribute("title"), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    const details = page.locator("tr", { has: page.locator(".badge", { hasText: "gitlab-instance.create" }) }).locator("details");
    await details.locator("summary").click();
    assert.match(await details.locator("dl").innerText(), /url\s+https:\/\/git\.globex\.example\/gitlab/);
    await shot(page, "audit-logs");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot(page, "audit-logs-dark");
    await page.emulateMedia({ colorScheme: "light" });

    await page.getByLabel("Action").selectOption("api-key.revoke");
    await submit(page, "Filter");
    assert.equal(new URL(page.url()).searchParams.get("action"), "api-key.revoke");
    const filtered = await page.locator("table.data tbody tr td:nth-child(3) .badge").allInnerTexts();
    assert.deepEqual(filtered, ["api-key.revoke"]);
    await shot(page, "audit-logs-filtered");

    await page.getByLabel("From (UTC)").fill("2999-01-01T00:00");
    await submit(page, "Filter");
    assert.equal(await page.getByRole("heading", { name: "No entries match these filters" }).count(), 1);
    await shot(page, "audit-logs-no-match");
  });

  await t.test("no script errors on any page", () => {
    assert.deepEqual(pageErrors, []);
  });
});
