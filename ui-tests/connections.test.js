// The App Connections pages as a person uses them, in a real browser against gitlab-sim:
// adding a connection with an access token (and the errors said next to the fields), the whole
// OAuth flow through the simulator's sign-in and consent pages (authorized and denied), the
// filters, and a connection's page with Check now, Edit and Delete. Each state is screenshot.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { config, launch, screenshot, logIn } = require("./harness");

const LIST = "/organization/app-connections";

async function openAddDialog(page) {
  await page.getByRole("link", { name: "Add connection" }).click();
  const dialog = page.locator("dialog#add-connection");
  await dialog.waitFor({ state: "visible" });
  return dialog;
}

/** Clicks and waits for the page the click leads to. */
async function follow(page, locator) {
  const [response] = await Promise.all([page.waitForNavigation(), locator.click()]);
  return response;
}

test("App Connections pages", async (t) => {
  assert.ok(config.gitlabFormToken, "LABGATE_UI_GITLAB_FORM_TOKEN is set by the Rust test");
  const { context, close } = await launch();
  t.after(close);
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    // Forms shown again with their errors answer 4xx on purpose.
    const expected = /status of 4\d\d /.test(message.text());
    if (message.type() === "error" && !expected) pageErrors.push(message.text());
  });
  await logIn(page);
  let connectionUrl;

  await t.test("Add connection opens a dialog that keeps the keyboard and closes on Escape", async () => {
    await page.goto(`${config.url}${LIST}`);
    const dialog = await openAddDialog(page);
    assert.equal(await dialog.getByRole("heading", { name: "Add connection" }).count(), 1);
    const card = dialog.getByRole("button", { name: /GitLab/ });
    assert.ok(await card.isVisible());
    assert.equal(await dialog.locator("svg.app-logo").first().isVisible(), true, "the GitLab logo is shown");
    await screenshot(page, "add-connection-dialog");
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press("Tab");
      assert.ok(
        await page.evaluate(() => document.querySelector("dialog#add-connection").contains(document.activeElement)),
        "focus stays in the dialog",
      );
    }
    await page.keyboard.press("Shift+Tab");
    assert.ok(await page.evaluate(() => document.querySelector("dialog#add-connection").contains(document.activeElement)));
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    assert.equal(
      await page.evaluate(() => document.activeElement.textContent.trim()),
      "Add connection",
      "focus goes back to the button",
    );
  });

  await t.test("a missing name is said next to the field, and the form keeps what was typed", async () => {
    const dialog = await openAddDialog(page);
    await dialog.getByRole("button", { name: /GitLab/ }).click();
    await dialog.getByRole("button", { name: /Access Token/ }).click();
    const form = dialog.locator("section[data-step=token]");
    assert.ok(await form.isVisible());
    // Every input has a label.
    for (const label of ["Name", "Description (optional)", "Access token", "GitLab instance URL", "Personal", "Project", "Group"]) {
      assert.equal(await form.getByLabel(label, { exact: false }).count() >= 1, true, label);
    }
    assert.equal(await form.getByLabel("GitLab instance URL").inputValue(), config.gitlabUrl.replace(/\/$/, ""));
    await form.getByLabel("Description (optional)").fill("Pushes releases");
    await form.getByLabel("Access token").fill("glpat-whatever-it-is-00");
    const response = await follow(page, form.getByRole("button", { name: "Add connection" }));
    assert.equal(response.status(), 422);
    assert.equal(new URL(page.url()).pathname, `${LIST}/new/gitlab/access-token`);
    assert.equal(await page.locator("#token-name-error").textContent(), "Enter a name for the connection.");
    assert.equal(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid"), "true");
    assert.equal(await page.getByLabel("Description (optional)").inputValue(), "Pushes releases");
    assert.equal(await page.getByLabel("Access token").inputValue(), "", "the token is never sent back");
    await screenshot(page, "add-connection-token-missing-name");
  });

  await t.test("a token GitLab refuses is said next to the token field with 422", async () => {
    await page.getByLabel("Name", { exact: true }).fill("release-bot");
    await page.getByLabel("Access token").fill("glpat-notARealTokenAtAll00");
    const response = await follow(page, page.getByRole("button", { name: "Add connection" }));
    assert.equal(response.status(), 422);
    const error = page.locator("#token-access_token-error");
    assert.match(await error.textContent(), /not valid for this GitLab instance/);
    assert.equal(await page.getByLabel("Access token").getAttribute("aria-invalid"), "true");
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "release-bot");
    assert.equal(await page.locator("#token-name-error").count(), 0);
    await screenshot(page, "add-connection-token-refused");
  });

  await t.test("a token GitLab accepts adds the connection, marked in the list", async () => {
    await page.getByLabel("Access token").fill(config.gitlabFormToken);
    await page.getByLabel("Secret sync").check();
    await follow(page, page.getByRole("button", { name: "Add connection" }));
    const url = new URL(page.url());
    assert.equal(url.pathname, LIST);
    const id = url.searchParams.get("highlight");
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.match(await page.locator(".flash.success").textContent(), /Connection “release-bot” added/);
    const row = page.locator("tr.highlight");
    assert.equal(await row.count(), 1);
    assert.match(await row.innerText(), /release-bot/);
    assert.match(await row.innerText(), /Pushes releases/);
    assert.match(await row.innerText(), /New/);
    await screenshot(page, "app-connections-highlighted");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "app-connections-highlighted-dark");
    await page.emulateMedia({ colorScheme: "light" });
    connectionUrl = await row.getByRole("link", { name: "release-bot" }).getAttribute("href");
    assert.equal(connectionUrl, `${LIST}/${id}`);
  });

  await t.test("the filters narrow the list without the script", async () => {
    await page.getByLabel("Search").fill("release");
    await follow(page, page.getByRole("button", { name: "Apply" }));
    assert.equal(new URL(page.url()).searchParams.get("q"), "release");
    assert.equal(await page.locator("table.data tbody tr").count(), 1);
    await page.getByLabel("Status").selectOption("expired");
    await follow(page, page.getByRole("button", { name: "Apply" }));
    assert.equal(await page.getByRole("heading", { name: "No connections match" }).count(), 1);
    await screenshot(page, "app-connections-filtered-empty");
    await page.goto(`${config.url}${LIST}?method=oauth`);
    assert.equal(await page.getByLabel("Method").inputValue(), "oauth");
    assert.equal(await page.locator("table.data tbody tr").count(), 0);
    await page.goto(`${config.url}${LIST}?method=access-token&status=active`);
    assert.ok((await page.locator("table.data tbody tr").count()) >= 1);
    await follow(page, page.getByRole("link", { name: "Clear" }));
    assert.equal(new URL(page.url()).search, "");
  });

  async function startOAuth(name) {
    await page.goto(`${config.url}${LIST}`);
    const dialog = await openAddDialog(page);
    await dialog.getByRole("button", { name: /GitLab/ }).click();
    await dialog.getByRole("button", { name: /OAuth/ }).click();
    const form = dialog.locator("section[data-step=oauth]");
    await form.getByLabel("Name", { exact: true }).fill(name);
    assert.equal(await form.getByLabel("api", { exact: false }).first().isChecked(), true, "api is the default scope");
    await form.getByRole("button", { name: "Connect to GitLab" }).click();
    await page.waitForURL((url) => url.origin === new URL(config.gitlabUrl).origin, { timeout: 15000 });
  }

  await t.test("OAuth: Connect to GitLab, sign in, authorize, and back on the list", async () => {
    await startOAuth("alice-oauth");
    await page.waitForLoadState();
    assert.match(await page.locator("h1").first().textContent(), /Sign in/);
    await screenshot(page, "oauth-gitlab-sign-in");
    await follow(page, page.locator('button[data-username="alice"]'));
    assert.match(await page.locator("h1").first().textContent(), /Authorize/);
    await screenshot(page, "oauth-gitlab-consent");
    await follow(page, page.locator("#authorize"));
    await page.waitForURL((url) => url.pathname === LIST && url.searchParams.has("highlight"));
    assert.match(await page.locator(".flash.success").textContent(), /GitLab connected as @alice: connection “alice-oauth”/);
    const row = page.locator("tr.highlight");
    assert.match(await row.innerText(), /alice-oauth/);
    assert.match(await row.innerText(), /OAuth/);
    await screenshot(page, "app-connections-oauth-connected");
  });

  await t.test("OAuth: denying at GitLab comes back with an error", async () => {
    await startOAuth("denied-oauth");
    await page.waitForLoadState();
    // Still signed in at GitLab: straight to the consent page.
    await follow(page, page.locator("#deny"));
    await page.waitForURL((url) => url.pathname === LIST);
    assert.match(await page.locator(".flash.error").textContent(), /denied at GitLab/);
    assert.equal(await page.locator("tr.highlight").count(), 0);
    assert.equal(await page.getByRole("link", { name: "denied-oauth" }).count(), 0);
    await screenshot(page, "app-connections-oauth-denied");
  });

  await t.test("a connection's page shows its user, token, instance and events", async () => {
    const response = await page.goto(`${config.url}${connectionUrl}`);
    assert.equal(response.status(), 200);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "release-bot");
    const text = await page.locator("main").innerText();
    assert.match(text, /@alice/);
    assert.match(text, /Connection created/);
    assert.equal(await page.locator("#token-title + dl .chip", { hasText: "read_repository" }).count(), 1);
    assert.equal(await page.locator("#instance-title + dl .chip", { hasText: "secret-sync" }).count(), 1);
    await screenshot(page, "connection-detail");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "connection-detail-dark");
    await page.emulateMedia({ colorScheme: "light" });
  });

  await t.test("Check now checks at GitLab and says so", async () => {
    await follow(page, page.getByRole("button", { name: "Check now" }));
    assert.equal(new URL(page.url()).pathname, connectionUrl);
    assert.match(await page.locator(".flash.success").textContent(), /Checked at GitLab: active/);
    await screenshot(page, "connection-checked");
  });

  await t.test("Edit renames the connection in a dialog", async () => {
    await page.getByRole("link", { name: "Edit" }).click();
    const dialog = page.locator("dialog#edit-connection");
    await dialog.waitFor({ state: "visible" });
    const name = "release-bot-with-a-long-name-that-wraps-in-headers-and-cards-01";
    await dialog.getByLabel("Name").fill(name);
    await dialog.getByLabel("Description (optional)").fill("Pushes releases to the registry");
    await screenshot(page, "connection-edit-dialog");
    await follow(page, dialog.getByRole("button", { name: "Save" }));
    assert.equal(await page.locator(".flash.success").textContent(), "Connection saved.");
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), name);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
    assert.equal(overflow, false, "a long name does not widen the page");
    await screenshot(page, "connection-edited");
    // An empty name is refused on the edit page, next to the field.
    const edit = await page.goto(`${config.url}${connectionUrl}/edit`);
    assert.equal(edit.status(), 200);
    await page.getByLabel("Name").fill("   ");
    const refused = await follow(page, page.getByRole("button", { name: "Save" }));
    assert.equal(refused.status(), 422);
    assert.equal(await page.locator("#edit-name-error").textContent(), "Enter a name for the connection.");
    await page.getByLabel("Name").fill("Not A Slug");
    const invalid = await follow(page, page.getByRole("button", { name: "Save" }));
    assert.equal(invalid.status(), 422);
    assert.match(await page.locator("#edit-name-error").textContent(), /lowercase letters, digits and dashes/);
    assert.equal(await page.getByLabel("Name").inputValue(), "Not A Slug", "what was typed is kept");
  });

  await t.test("Delete asks first, in a dialog and on a page of its own", async () => {
    const confirmPage = await page.goto(`${config.url}${connectionUrl}/delete`);
    assert.equal(confirmPage.status(), 200);
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Delete connection?");
    await screenshot(page, "connection-delete-page");
    await page.goto(`${config.url}${connectionUrl}`);
    await page.getByRole("link", { name: "Delete" }).click();
    const dialog = page.locator("dialog#delete-connection");
    await dialog.waitFor({ state: "visible" });
    await screenshot(page, "connection-delete-dialog");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("link", { name: "Delete" }).click();
    await follow(page, dialog.getByRole("button", { name: "Delete connection" }));
    assert.equal(new URL(page.url()).pathname, LIST);
    assert.match(await page.locator(".flash.success").textContent(), /deleted/);
    assert.equal(await page.getByRole("link", { name: /release-bot/ }).count(), 0);
    await screenshot(page, "app-connections-after-delete");
    const gone = await page.goto(`${config.url}${connectionUrl}`);
    assert.equal(gone.status(), 404);
  });

  await t.test("every new form is refused without its security token", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    for (const path of [
      `${LIST}/new/gitlab/access-token`,
      `${LIST}/new/gitlab/oauth`,
      `${LIST}/${id}/check`,
      `${LIST}/${id}/rotate`,
      `${LIST}/${id}/refresh`,
      `${LIST}/${id}/edit`,
      `${LIST}/${id}/delete`,
    ]) {
      const response = await context.request.post(`${config.url}${path}`, {
        form: { name: "x", csrf_token: "forged" },
        maxRedirects: 0,
      });
      assert.equal(response.status(), 403, path);
    }
  });

  await t.test("the pages ran their script without errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});
