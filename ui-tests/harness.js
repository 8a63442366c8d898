// What every browser test needs: the running labgate (from the environment the Rust test
// sets), Debian's Chromium through playwright-core with a fresh profile, and screenshots.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const CHROMIUM = process.env.LABGATE_UI_CHROMIUM || "/usr/bin/chromium";
// The machine has no internet: nothing Chromium would fetch on its own may be tried.
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through the labgate integration test (cargo test -p labgate --test it ui)`);
  }
  return value;
}

const config = {
  url: required("LABGATE_UI_URL").replace(/\/$/, ""),
  email: required("LABGATE_UI_EMAIL"),
  password: required("LABGATE_UI_PASSWORD"),
  apiKey: required("LABGATE_UI_API_KEY"),
  gitlabUrl: required("LABGATE_UI_GITLAB_URL"),
  gitlabToken: required("LABGATE_UI_GITLAB_TOKEN"),
  gitlabFormToken: process.env.LABGATE_UI_GITLAB_FORM_TOKEN || "",
  screenshots: process.env.LABGATE_UI_SCREENSHOTS || path.join(__dirname, "..", "target", "ui-screenshots"),
};

/** A fresh browser profile, removed when the browser closes. */
async function launch(options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "labgate-ui-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
    colorScheme: "light",
    ...options,
  });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** A full-page screenshot in target/ui-screenshots/<name>.png. */
async function screenshot(page, name) {
  fs.mkdirSync(config.screenshots, { recursive: true });
  await page.screenshot({ path: path.join(config.screenshots, `${name}.png`), fullPage: true });
}

/** Logs in through the form and waits for the page after it. */
async function logIn(page, email = config.email, password = config.password) {
  await page.goto(`${config.url}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Log in" }).click()]);
}

module.exports = { config, launch, screenshot, logIn };
