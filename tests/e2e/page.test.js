// Web page test: drives the page served at / with headless Chromium (playwright-core, system
// /usr/bin/chromium). Usage: node page.test.js BASE_URL API_KEY MODEL_OK(true|false) PNG OUT_DIR
// Prints "ok"/"not ok"/"SKIP" lines and a final "N passed, N failed".
"use strict";
const { chromium } = require("playwright-core");
const [base, key, modelOk, png, outDir] = process.argv.slice(2);
let passed = 0, failed = 0, skipped = 0;
function check(name, cond, detail) {
  if (cond) { passed++; console.log("ok - page: " + name); }
  else { failed++; console.log("not ok - page: " + name + (detail ? "\n    " + detail : "")); }
}
async function waitStatus(page, re, ms) {
  try { await page.waitForFunction(r => new RegExp(r).test(document.getElementById("status").textContent), re.source, { timeout: ms }); return true; }
  catch (e) { return false; }
}
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", e => errors.push(String(e)));
    await page.goto(base + "/");
    check("page loads with the form", await page.locator("#gen").count() === 1);
    await page.fill("#key", key);
    await page.dispatchEvent("#key", "change");
    await page.fill("#prompt", "a red ball rolling on grass");
    await page.fill("#steps", "2");
    await page.fill("#keyframes", "2");
    await page.fill("#frames", "4");
    await page.click("#submit");
    check("submission shows a job id", await waitStatus(page, /^vid_[0-9a-f]+: /, 10000), await page.textContent("#status"));
    const done = await waitStatus(page, /: (succeeded|failed|cancelled)/, 180000);
    const status = await page.textContent("#status");
    check("progress reaches a final state", done, status);
    if (modelOk === "true") {
      check("job succeeded", /succeeded/.test(status), status + " " + await page.textContent("#error"));
      // the page appends keyframes one by one as each image arrives, then shows the replacement panel
      await page.waitForFunction(() => document.getElementById("player").style.display === "block" && document.getElementById("fix").style.display === "block", null, { timeout: 20000 }).catch(() => {});
      check("video player shows the result", await page.evaluate(() => document.getElementById("player").src.startsWith("blob:")));
      const n = await page.locator("#strip img").count();
      check("keyframe strip", n >= 2, "keyframes shown: " + n);
      await page.locator("#strip img").nth(1).click();
      await page.setInputFiles("#kfile", png);
      const before = await page.evaluate(() => document.getElementById("player").src);
      await page.click("#replace");
      check("replacement starts version 2", await waitStatus(page, /version 2/, 10000), await page.textContent("#status"));
      check("rebuilt video succeeds", await waitStatus(page, /succeeded, version 2|succeeded.*version 2/, 180000), await page.textContent("#status"));
      await page.waitForFunction(b => document.getElementById("player").src !== b, before, { timeout: 20000 }).catch(() => {});
      check("player shows the rebuilt video", await page.evaluate(b => document.getElementById("player").src !== b, before));
    } else {
      check("failed job shows the pipeline's error", /failed/.test(status) && (await page.textContent("#error")).length > 0, status);
      skipped += 5;
      console.log("SKIP 5 page checks (play, keyframe strip, replacement): the pipeline is unsupported");
    }
    // an image upload goes through as multipart
    await page.setInputFiles("#image", png);
    await page.click("#submit");
    check("submission with an image", await waitStatus(page, /^vid_[0-9a-f]+: /, 10000), await page.textContent("#status"));
    await page.screenshot({ path: outDir + "/page.png", fullPage: true });
    check("no JavaScript errors", errors.length === 0, errors.join("; "));
  } catch (e) {
    check("page test ran", false, String(e));
  } finally {
    await browser.close();
  }
  if (skipped) console.log("SKIP: " + skipped + " page checks skipped");
  console.log(passed + " passed, " + failed + " failed");
  process.exit(failed ? 1 : 0);
})();
