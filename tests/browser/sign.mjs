// Clarion's browser test, in Debian's headless Chromium driven by
// playwright-core: a person on a 360-pixel-wide phone signs on the petition
// page, lands on the thanks page, opens the link from the confirmation mail
// (read from the outbox folder clarion writes when no SMTP server is set),
// and the page confirms by itself. axe-core must find no serious or critical
// violation on the petition, thanks and confirm pages, and no page may break
// its own Content-Security-Policy.
//
//   node sign.mjs            (CLARION_BIN, CHROMIUM_PATH override the defaults)
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bin = process.env.CLARION_BIN || join(root, 'target/debug/clarion');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SLUG = 'free-azimjan-askarov';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
    s.on('error', fail);
  });
}

async function waitFor(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every text part of an .eml, decoded (base64, quoted-printable or plain). */
function mailText(eml) {
  const out = [];
  for (const part of eml.split(/\r?\n--[^\r\n]+\r?\n/)) {
    const [head, ...rest] = part.split(/\r?\n\r?\n/);
    let body = rest.join('\n\n');
    if (/content-transfer-encoding:\s*base64/i.test(head)) {
      body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    } else if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
      body = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    }
    out.push(body);
  }
  return out.join('\n');
}

const AXE_RUN = `axe.run(document, { runOnly: { type: 'tag', values:
  ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })`;

async function axeCheck(page, name) {
  // Evaluated through DevTools, so the page's CSP does not apply to axe.
  await page.evaluate(axeSource);
  const result = await page.evaluate(AXE_RUN);
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of result.violations) {
    console.log(`  axe ${name}: ${v.impact} ${v.id} (${v.nodes.length}) ${v.help}`);
  }
  if (bad.length) throw new Error(`${name}: ${bad.length} serious or critical axe violation(s)`);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  if (width > 360) throw new Error(`${name}: ${width}px wide, scrolls sideways on a 360px phone`);
  console.log(`ok ${name}: no serious or critical axe violation, fits 360px`);
}

/** After a submission with mistakes, on a 360 px phone: the error summary
 * is within the first screen (above the petition's text), has focus, and
 * each of its links names a field that exists on the page. */
async function checkErrorSummary(page, how) {
  const s = await page.evaluate(() => {
    const el = document.getElementById('error-summary');
    const r = el.getBoundingClientRect();
    const links = [...el.querySelectorAll('a')].map((a) => {
      const id = decodeURIComponent(a.hash.slice(1));
      const target = document.getElementById(id);
      return { href: a.getAttribute('href'), id, tag: target ? target.tagName : null };
    });
    return {
      top: r.top, bottom: r.bottom, innerHeight, scrollY,
      focused: document.activeElement && document.activeElement.id,
      links,
    };
  });
  if (!(s.top >= 0 && s.top < s.innerHeight)) {
    throw new Error(`${how}: the error summary starts at ${s.top}px, outside the first ${s.innerHeight}px screen (scrolled ${s.scrollY})`);
  }
  if (s.focused !== 'error-summary') throw new Error(`${how}: error summary not focused (${s.focused})`);
  if (!s.links.length) throw new Error(`${how}: the error summary links to nothing`);
  for (const l of s.links) {
    if (!l.href.startsWith('#') || !['INPUT', 'SELECT', 'TEXTAREA'].includes(l.tag)) {
      throw new Error(`${how}: summary link ${l.href} targets ${l.tag || 'nothing'}, not a field`);
    }
  }
  console.log(`ok ${how}: the error summary is at ${Math.round(s.top)}px of ${s.innerHeight}, focused, its ${s.links.length} links name fields (${s.links.map((l) => l.id).join(', ')})`);
}

const work = mkdtempSync(join(tmpdir(), 'clarion-browser-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const outbox = join(work, 'outbox');
const server = spawn(bin, ['serve', '--demo'], {
  env: {
    ...process.env,
    CLARION_DATABASE_URL: `sqlite://${join(work, 'clarion.db')}`,
    CLARION_HTTP_ADDR: `127.0.0.1:${port}`,
    CLARION_OUTBOX_DIR: outbox,
    CLARION_SMTP_URL: '',
    CLARION_LOG: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
let browser;
let failed = false;
try {
  await waitFor('clarion to listen', () => fetch(`${base}/healthz`).then((r) => r.ok, () => false));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-extensions', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-GB' });
  const page = await context.newPage();
  const cspErrors = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
  page.on('pageerror', (e) => cspErrors.push(String(e)));

  // The petition page, and a first try with mistakes: the error summary.
  await page.goto(`${base}/petitions/${SLUG}`);
  await axeCheck(page, 'petition page');
  await page.getByLabel('First name').fill('Ann');
  await page.getByLabel('Email address').fill('not-an-address');
  await page.getByRole('button', { name: 'Sign the petition' }).click();
  await page.waitForSelector('#error-summary');
  await checkErrorSummary(page, 'with scripts');
  await axeCheck(page, 'petition page with errors');
  // Each message takes the person to its field.
  const firstLink = page.locator('#error-summary a').first();
  const firstTarget = (await firstLink.getAttribute('href')).slice(1);
  await firstLink.click();
  const nowFocused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  if (nowFocused !== firstTarget) throw new Error(`the summary's first link focused ${nowFocused}, not ${firstTarget}`);
  console.log(`ok the summary's first link moves focus to #${firstTarget}`);

  // Without scripts the summary is first on the screen and focused too
  // (autofocus).
  const plain = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-GB', javaScriptEnabled: false });
  const plainPage = await plain.newPage();
  await plainPage.goto(`${base}/petitions/${SLUG}`);
  await plainPage.getByLabel('Email address').fill('not-an-address');
  await plainPage.getByRole('button', { name: 'Sign the petition' }).click();
  await plainPage.waitForSelector('#error-summary');
  await checkErrorSummary(plainPage, 'without scripts');
  await plain.close();

  // Now correctly.
  await page.getByLabel('Last name').fill('Lee');
  await page.getByLabel('Email address').fill('Ann.Lee@Example.org');
  await page.getByLabel('Country').selectOption('KG');
  await page.getByLabel(/email me about urgent actions/).check();
  await page.getByRole('button', { name: 'Sign the petition' }).click();
  await page.waitForURL(`${base}/petitions/${SLUG}/thanks`);
  await page.getByText('One more step').waitFor();
  await axeCheck(page, 'thanks page');

  // The confirmation mail, from the outbox.
  const link = await waitFor('the confirmation mail', () => {
    let files = [];
    try { files = readdirSync(outbox).filter((f) => f.endsWith('.eml')); } catch { return null; }
    for (const f of files) {
      const m = mailText(readFileSync(join(outbox, f), 'utf8')).match(/https?:\/\/[^\s"<>]+\/confirm\/[A-Za-z0-9_-]+/);
      if (m) return m[0];
    }
    return null;
  });
  console.log(`ok confirmation mail received: ${link.replace(/[^/]+$/, '…')}`);

  // The confirm page as a mail scanner or a browser without scripts sees
  // it: a button, and nothing confirmed by the visit.
  const noScript = await browser.newContext({ viewport: { width: 360, height: 740 }, javaScriptEnabled: false });
  const still = await noScript.newPage();
  await still.goto(link);
  await still.getByRole('button', { name: 'Confirm my signature' }).waitFor();
  await noScript.close();
  const before = await (await fetch(`${base}/petitions/${SLUG}/counts.json`)).json();
  if (before.signatures !== 0) throw new Error('visiting the confirmation link without scripts confirmed it');
  console.log('ok without scripts the confirm page shows a button and confirms nothing');

  // With scripts on, the page submits itself at once. The first time, that
  // POST is answered 204 by the test (a 204 leaves the page in place) so
  // axe can look at the confirm page; then a reload lets it through.
  let autoPosted = false;
  await page.route('**/confirm/*', (route) => {
    if (route.request().method() === 'POST' && !autoPosted) {
      autoPosted = true;
      return route.fulfill({ status: 204 });
    }
    return route.continue();
  });
  await page.goto(link, { waitUntil: 'commit' });
  await waitFor('the confirm page to submit itself', () => autoPosted);
  await page.getByRole('button', { name: 'Confirm my signature' }).waitFor();
  await axeCheck(page, 'confirm page');
  await page.reload();
  await page.getByText('Your signature is confirmed').waitFor();
  await axeCheck(page, 'confirmed thanks page');

  const counts = await (await fetch(`${base}/petitions/${SLUG}/counts.json`)).json();
  if (counts.signatures !== 1 || counts.by_country.KG !== 1) throw new Error(`counts ${JSON.stringify(counts)}`);
  console.log('ok the signature counts once confirmed');
  if (cspErrors.length) throw new Error(`CSP violations or page errors:\n${cspErrors.join('\n')}`);
  console.log('ok no Content-Security-Policy violation');
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
