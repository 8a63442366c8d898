// The access pages as an auditor uses them, in a real browser: a reader of a tenant whose access
// source synced twice (the newest sync then failed) finds its accounts, walks the group tree to a
// project's grants, sees each grant's path (direct, inherited, shared with its cap), exports
// them, and opens what the last successful sync changed, new admins and owners first.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { config, launch, screenshot, logIn } = require("./harness");

function required(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is set by the integration test`);
  return value;
}

const auditor = { email: required("LABGATE_UI_ACCESS_EMAIL"), password: required("LABGATE_UI_ACCESS_PASSWORD") };
const source = required("LABGATE_UI_ACCESS_SOURCE");
const sync = required("LABGATE_UI_ACCESS_SYNC");
const unsynced = required("LABGATE_UI_ACCESS_UNSYNCED_SOURCE");

async function follow(page, locator) {
  await Promise.all([page.waitForNavigation(), locator.click()]);
}

async function shot(page, name, { dark = false } = {}) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, name);
  if (dark) {
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, `${name}-dark`);
    await page.emulateMedia({ colorScheme: "light" });
  }
}

test("access", async (t) => {
  const { context, close } = await launch();
  t.after(close);
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
  await logIn(page, auditor.email, auditor.password);

  await t.test("the sources list names each source's newest sync", async () => {
    await page.goto(`${config.url}/access/sources`);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Access");
    assert.equal(await page.locator('nav[aria-label="Main"] a[aria-current="page"]').textContent(), "Access");
    assert.equal(await page.locator("tr[data-source-id]").count(), 2);
    const synced = page.locator(`tr[data-source-id="${source}"]`);
    assert.match(await synced.innerText(), /acme-gitlab/);
    assert.match(await synced.innerText(), /Failed/);
    assert.match(await synced.innerText(), /Group acme/);
    assert.match(await page.locator(`tr[data-source-id="${unsynced}"]`).innerText(), /Queued[\s\S]*None yet/);
    await shot(page, "access-sources");
  });

  await t.test("accounts are searched, with the failed newest sync said", async () => {
    await follow(page, page.getByRole("link", { name: "acme-gitlab" }));
    assert.equal(new URL(page.url()).pathname, `/access/sources/${source}/accounts`);
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').textContent(), "Accounts");
    assert.match(await page.locator("[data-failed-sync]").innerText(), /The newest sync failed[\s\S]*GitLab answered 503/);
    assert.equal(await page.locator("tr[data-account]").count(), 9);
    const alice = page.locator('tr[data-account="alice"]');
    assert.match(await alice.innerText(), /Administrator/);
    assert.match(await alice.innerText(), /ldapmain/);
    assert.match(await page.locator('tr[data-account="ci-service"]').innerText(), /Service account/);
    assert.match(await page.locator('tr[data-account="eve"]').innerText(), /Blocked/);
    await shot(page, "access-accounts", { dark: true });

    await page.getByLabel("Search", { exact: true }).fill("contractor");
    await follow(page, page.getByRole("button", { name: "Search" }));
    assert.deepEqual(await page.locator("tr[data-account]").evaluateAll((rows) => rows.map((row) => row.dataset.account)), ["grace"]);
    await follow(page, page.getByRole("link", { name: "Clear", exact: true }));
    assert.equal(await page.locator("tr[data-account]").count(), 9);
  });

  await t.test("the group tree nests subgroups and projects and leads to a project's grants", async () => {
    await follow(page, page.getByRole("link", { name: "Groups & projects" }));
    const infra = page.locator('li[data-resource="acme/platform/infra"]');
    const terraform = infra.locator('li[data-resource="acme/platform/infra/terraform"]');
    assert.equal(await terraform.count(), 1, "terraform sits inside infra");
    assert.equal(await page.locator('li[data-resource="acme"] li[data-resource="acme/platform"] li[data-resource="acme/platform/infra"]').count(), 1);
    assert.ok(await terraform.isVisible());
    await infra.locator(":scope > details > summary").click();
    assert.equal(await terraform.isVisible(), false, "a group folds away");
    await infra.locator(":scope > details > summary").click();
    assert.ok(await terraform.isVisible());
    assert.match(await page.locator('li[data-resource="acme/website"]').innerText(), /Public/);
    await shot(page, "access-resources");

    await follow(page, page.getByRole("link", { name: "Grants on acme/platform/api" }));
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').textContent(), "Grants");
    assert.equal(await page.getByLabel("Group or project", { exact: true }).inputValue(), "acme/platform/api");
    const rows = page.locator("tr[data-grant]");
    assert.equal(await rows.count(), 5);
    assert.match(await page.locator('tr[data-grant="alice acme/platform/api"]').innerText(), /Owner[\s\S]*inherited via group acme/);
    assert.match(await page.locator('tr[data-grant="carol acme/platform/api"]').innerText(), /Developer[\s\S]*Custom role: Security Auditor[\s\S]*direct/);
    assert.match(await page.locator('tr[data-grant="eve acme/platform/api"]').innerText(), /Guest[\s\S]*shared via group partners \(shared at group acme\/platform\), capped at Developer/);
    await shot(page, "access-grants");
  });

  await t.test("grants are filtered by account and exported with the same filter", async () => {
    await page.getByLabel("Group or project", { exact: true }).fill("");
    await page.getByLabel("Account", { exact: true }).fill("frank");
    await follow(page, page.getByRole("button", { name: "Filter" }));
    assert.equal(await page.locator("tr[data-grant]").count(), 5);
    assert.match(await page.locator('tr[data-grant="frank acme/platform"]').innerText(), /shared via group partners, capped at Developer/);
    assert.match(await page.locator('tr[data-grant="frank partners"]').innerText(), /Maintainer[\s\S]*direct/);
    await shot(page, "access-grants-shared");

    const href = await page.getByRole("link", { name: "CSV" }).getAttribute("href");
    assert.match(href, /grants\/export\?format=csv&account=frank/);
    const csv = await context.request.get(`${config.url}${href}`);
    assert.equal(csv.status(), 200);
    assert.equal(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert.match(csv.headers()["content-disposition"], /^attachment; filename="access-grants-/);
    const lines = (await csv.text()).trim().split("\n");
    assert.equal(lines.length, 6);
    assert.ok(lines.every((line, index) => index === 0 || line.startsWith("14,frank,")), lines.join("\n"));
  });

  await t.test("a sync's changes put new administrators and owners first", async () => {
    await follow(page, page.getByRole("link", { name: "Syncs", exact: true }));
    assert.equal(await page.locator("tr[data-sync-id]").count(), 3);
    await follow(page, page.locator(`tr[data-sync-id="${sync}"]`).getByRole("link", { name: "Changes" }));
    assert.equal(new URL(page.url()).pathname, `/access/syncs/${sync}/diff`);
    assert.match(await page.getByRole("heading", { level: 1 }).innerText(), /Changes in sync/);
    const count = async (stat) => Number(await page.locator(`[data-stat="${stat}"] .stat-count`).textContent());
    assert.deepEqual([await count("added"), await count("removed"), await count("changed"), await count("new-admins"), await count("new-owners")], [1, 1, 4, 1, 4]);
    const admins = page.locator("#new-admins");
    assert.match(await admins.innerText(), /carol/);
    assert.match(await page.locator("#new-owners").innerText(), /bob[\s\S]*acme\/platform/);
    assert.match(await page.locator("#added").innerText(), /heidi[\s\S]*acme\/website/);
    assert.match(await page.locator("#removed").innerText(), /dave[\s\S]*Minimal Access/);
    assert.match(await page.locator("#changed").innerText(), /bob[\s\S]*Developer[\s\S]*Owner/);
    const order = await page.locator("section.diff-section").evaluateAll((sections) => sections.map((section) => section.id));
    assert.deepEqual(order, ["new-admins", "new-owners", "added", "removed", "changed"]);
    await shot(page, "access-diff");
  });

  await t.test("a source without a successful sync says so", async () => {
    await page.goto(`${config.url}/access/sources/${unsynced}/grants`);
    assert.equal(await page.getByRole("heading", { name: "Nothing synced yet" }).count(), 1);
    assert.match(await page.locator(".empty-state").innerText(), /first sync is under way/);
    assert.equal(await page.getByRole("link", { name: "CSV" }).count(), 0, "nothing to export");
    await shot(page, "access-not-synced");
  });

  assert.deepEqual(pageErrors, []);
});
