// The web UI as a person uses it, in a real browser: logging in and out, forms refused without
// their security token, and the App Connections list empty and with a connection. Each step
// saves a screenshot for people to look at.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { config, launch, screenshot, logIn } = require("./harness");

const LIST = "/organization/app-connections";

test("the web UI", async (t) => {
  const { context, close } = await launch();
  t.after(close);
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    // The wrong-password and forged-form pages answer 401 and 403 on purpose.
    const expected = /status of 40[13] /.test(message.text());
    if (message.type() === "error" && !expected) pageErrors.push(message.text());
  });

  await t.test("a page needs a login and comes back to it afterwards", async () => {
    const response = await page.goto(`${config.url}${LIST}`);
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.equal(new URL(page.url()).searchParams.get("next"), LIST);
    assert.equal(response.status(), 200);
    const headers = response.headers();
    assert.match(headers["content-security-policy"], /script-src 'self'/);
    assert.match(headers["content-security-policy"], /frame-ancestors 'none'/);
    assert.equal(headers["x-frame-options"], "DENY");
    assert.equal(headers["referrer-policy"], "same-origin");
    assert.equal(headers["x-content-type-options"], "nosniff");
    assert.equal(headers["cache-control"], "no-store");
    // The skip link is the first stop of the keyboard.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    await screenshot(page, "login");
  });

  await t.test("a wrong password is said on the form", async () => {
    await page.getByLabel("Email").fill(config.email);
    await page.getByLabel("Password").fill("not the password at all");
    const [response] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole("button", { name: "Log in" }).click(),
    ]);
    assert.equal(response.status(), 401);
    const error = page.locator(".field-error");
    assert.equal(await error.textContent(), "The email or password is not correct.");
    assert.equal(await page.getByLabel("Password").getAttribute("aria-invalid"), "true");
    assert.equal(await page.getByLabel("Email").inputValue(), config.email, "the email is kept");
    assert.equal(await page.getByLabel("Password").inputValue(), "", "the password is not sent back");
    await screenshot(page, "login-wrong-password");
  });

  await t.test("the right password opens the empty App Connections list", async () => {
    await page.getByLabel("Password").fill(config.password);
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Log in" }).click()]);
    assert.equal(new URL(page.url()).pathname, LIST);
    const cookies = await context.cookies(config.url);
    const session = cookies.find((cookie) => cookie.name === "labgate_session");
    assert.ok(session, "a session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Lax");
    assert.equal(session.path, "/");
    assert.ok(session.expires > Date.now() / 1000 + 11 * 3600, "it lasts the session's 12 hours");
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "App Connections");
    assert.equal(await page.getByRole("heading", { name: "No GitLab connections yet" }).count(), 1);
    assert.equal(await page.getByRole("link", { name: "Add connection" }).count(), 1);
    const current = page.locator('nav[aria-label="Main"] a[aria-current="page"]');
    assert.equal(await current.textContent(), "App Connections");
    assert.equal(await page.locator(".topbar .user").textContent(), config.email);
    await screenshot(page, "app-connections-empty");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "app-connections-empty-dark");
    await page.emulateMedia({ colorScheme: "light" });
  });

  await t.test("forms without their security token are refused with 403", async () => {
    for (const path of ["/logout", "/login"]) {
      const response = await context.request.post(`${config.url}${path}`, {
        form: { email: config.email, password: config.password },
        maxRedirects: 0,
      });
      assert.equal(response.status(), 403, path);
      assert.match(response.headers()["content-type"], /text\/html/);
      assert.match(await response.text(), /This form has expired/);
    }
    const wrong = await context.request.post(`${config.url}/logout`, {
      form: { csrf_token: "forged" },
      maxRedirects: 0,
    });
    assert.equal(wrong.status(), 403);
    // The session survived both attempts.
    const still = await page.goto(`${config.url}${LIST}`);
    assert.equal(still.status(), 200);
    assert.equal(new URL(page.url()).pathname, LIST);
    // What a person sees after a form without its token.
    await page.evaluate(() => {
      const form = document.createElement("form");
      form.method = "post";
      form.action = "/logout";
      document.body.append(form);
      form.submit();
    });
    await page.waitForLoadState();
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "This form has expired");
    await screenshot(page, "csrf-rejected");
  });

  await t.test("a connection created through the API is listed with its status", async () => {
    const created = await context.request.post(`${config.url}/api/v1/app-connections/gitlab`, {
      headers: { authorization: `Bearer ${config.apiKey}` },
      data: {
        name: "ci-deploy",
        description: "Deploys from CI",
        method: "access-token",
        credentials: {
          accessToken: config.gitlabToken,
          accessTokenType: "personal",
          instanceUrl: config.gitlabUrl,
        },
      },
    });
    assert.equal(created.status(), 200, await created.text());
    await page.goto(`${config.url}${LIST}`);
    const row = page.locator("table.data tbody tr");
    assert.equal(await row.count(), 1);
    const cells = await row.first().locator("td").allInnerTexts();
    assert.match(cells[0], /ci-deploy/);
    assert.match(cells[0], /Deploys from CI/);
    assert.equal(cells[1], "Access token");
    assert.equal(cells[2], "Personal");
    assert.equal(cells[3], new URL(config.gitlabUrl).host);
    assert.equal(cells[4].trim(), "Active");
    assert.match(cells[5], /^in \d+ (days|months|years?)$|^Never$/);
    assert.match(cells[6], /just now|minute/);
    const time = row.first().locator("time").last();
    assert.match(await time.getAttribute("title"), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    await screenshot(page, "app-connections-list");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "app-connections-list-dark");
    await page.emulateMedia({ colorScheme: "light" });
  });

  await t.test("logging out ends the session", async () => {
    await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Log out" }).click()]);
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.equal(await page.locator(".flash.success").textContent(), "You have logged out.");
    await screenshot(page, "logged-out");
    await page.goto(`${config.url}${LIST}`);
    assert.equal(new URL(page.url()).pathname, "/login", "the list needs a login again");
    // The flash was shown once.
    assert.equal(await page.locator(".flash").count(), 0);
  });

  await t.test("the pages ran their script without errors", () => {
    assert.deepEqual(pageErrors, []);
  });
});

test("logging in again after logging out works", async (t) => {
  const { context, close } = await launch({ colorScheme: "dark" });
  t.after(close);
  const page = context.pages()[0] || (await context.newPage());
  await logIn(page);
  assert.equal(new URL(page.url()).pathname, LIST);
  await screenshot(page, "app-connections-after-relogin-dark");
});
