// The web console in Debian's headless Chromium (playwright-core): a
// campaigner signs in, creates a case and a petition, uploads a list,
// composes an alert, previews it (HTML and text, live; a language added to
// it, before it is saved), test-sends it to herself and sends it to a real
// SMTP receiver (a small one in this file), watching the progress page count
// every recipient; downloads an export and checks it. An organiser cannot reach the send button or its route. axe-core
// must find no serious or critical violation on any console page, at phone
// (360 px) and laptop (1280 px) widths; every page is screenshotted under
// target/browser/console/ for review.
//
//   node console.mjs         (CLARION_BIN, CHROMIUM_PATH override the defaults)
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const shots = join(root, 'target/browser/console');
mkdirSync(shots, { recursive: true });
const PASSWORD = 'correct horse battery';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
    s.on('error', fail);
  });
}

async function waitFor(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A minimal SMTP receiver: accepts everything, keeps each message. */
function smtpSink() {
  const messages = [];
  const server = createServer((sock) => {
    let buf = '';
    let data = null;
    let rcpt = [];
    sock.write('220 sink ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      for (;;) {
        if (data !== null) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          data += buf.slice(0, end);
          buf = buf.slice(end + 5);
          messages.push({ rcpt, data });
          data = null;
          rcpt = [];
          sock.write('250 ok\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO') sock.write('250-sink\r\n250 8BITMIME\r\n');
        else if (cmd === 'HELO') sock.write('250 sink\r\n');
        else if (cmd === 'RCPT') { rcpt.push(line.replace(/^.*?<([^>]*)>.*$/, '$1')); sock.write('250 ok\r\n'); }
        else if (cmd === 'DATA') { data = ''; sock.write('354 go on\r\n'); }
        else if (cmd === 'QUIT') { sock.write('221 bye\r\n'); sock.end(); }
        else sock.write('250 ok\r\n');
      }
    });
    sock.on('error', () => {});
  });
  return { server, messages };
}

const AXE_RUN = `axe.run(document, { runOnly: { type: 'tag', values:
  ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })`;

let shotNo = 0;
/** axe at 360 px and 1280 px, no sideways scrolling on the phone, screenshots. */
async function check(page, name) {
  await page.waitForLoadState('load');
  for (const [w, h] of [[360, 740], [1280, 800]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.evaluate(axeSource);
    const result = await page.evaluate(AXE_RUN);
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    for (const v of result.violations) {
      console.log(`  axe ${name} @${w}: ${v.impact} ${v.id} (${v.nodes.length}) ${v.help} ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
    }
    if (bad.length) throw new Error(`${name}: ${bad.length} serious or critical axe violation(s) at ${w}px`);
    if (w === 360) {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      if (width > 360) {
        const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > 361)
          .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`).slice(0, 8).join(', '));
        throw new Error(`${name}: ${width}px wide, scrolls sideways on a 360px phone: ${wide}`);
      }
    }
    shotNo += 1;
    const file = `${String(shotNo).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}-${w}.png`;
    await page.screenshot({ path: join(shots, file), fullPage: true });
  }
  console.log(`ok ${name}: no serious or critical axe violation, fits 360px, screenshots taken`);
}

const work = mkdtempSync(join(tmpdir(), 'clarion-console-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const sink = smtpSink();
await new Promise((ok) => sink.server.listen(0, '127.0.0.1', ok));
const smtpPort = sink.server.address().port;
const env = {
  ...process.env,
  CLARION_DATABASE_URL: `sqlite://${join(work, 'clarion.db')}`,
  CLARION_HTTP_ADDR: `127.0.0.1:${port}`,
  CLARION_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
  CLARION_SEND_RATE: '4',
  CLARION_LOG: 'warn',
};
for (const [email, role] of [['camila@example.org', 'campaigner'], ['omar@example.org', 'organiser'], ['ada@example.org', 'admin']]) {
  const r = spawnSync(bin, ['user', 'create', '--email', email, '--role', role, '--password-stdin'], { env, input: `${PASSWORD}\n` });
  if (r.status !== 0) throw new Error(`user create failed: ${r.stderr}`);
}
console.log('ok users created with `clarion user create`');
const server = spawn(bin, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
let browser;
let failed = false;
const cspErrors = [];
const allConsole = [];
try {
  await waitFor('clarion to listen', () => fetch(`${base}/healthz`).then((r) => r.ok, () => false));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-extensions', '--no-first-run'],
  });
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', acceptDownloads: true });
    const page = await context.newPage();
    page.on('console', (m) => { allConsole.push(m.text()); if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
    page.on('pageerror', (e) => cspErrors.push(String(e)));
    return page;
  };
  const signIn = async (page, email) => {
    await page.goto(`${base}/admin`);
    await page.waitForURL(/\/admin\/login/);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/admin`);
  };

  const page = await newPage();
  await page.goto(`${base}/admin/login`);
  await check(page, 'login');
  await page.getByLabel('Email address').fill('camila@example.org');
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('The email address or password is wrong.').waitFor();
  await check(page, 'login failed');
  await signIn(page, 'camila@example.org');
  await check(page, 'dashboard empty');

  // A case and a petition.
  await page.getByRole('link', { name: 'Cases' }).click();
  await page.getByRole('link', { name: 'New case' }).click();
  await check(page, 'new case');
  await page.getByLabel('Title').fill('Free Aziz Karimov');
  await page.getByLabel('Short name for the address').fill('free-aziz-karimov');
  await page.getByLabel('Summary').fill('Aziz, a journalist, was detained for a post about corruption.');
  await page.getByLabel(/Country code/).fill('KG');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(`${base}/admin/cases`);
  await check(page, 'cases');
  await page.getByRole('link', { name: 'Petitions' }).first().click();
  await page.getByRole('link', { name: 'New petition' }).click();
  await page.getByLabel('Case').selectOption({ label: 'Free Aziz Karimov' });
  await page.getByLabel('Title').fill('Release Aziz now');
  await page.getByLabel('Short name for the address').fill('release-aziz');
  await page.getByLabel('Addressed to').fill('The Prosecutor General');
  await page.getByLabel('Full text').fill('We call on you to release Aziz at once.');
  await page.getByLabel(/Goal/).fill('1000');
  await page.getByLabel('Ask signers to confirm by email').uncheck();
  await check(page, 'new petition');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/\/admin\/petitions\/[0-9a-f-]+$/);
  const petitionUrl = page.url();
  const publicLink = await page.locator('#public-link').getAttribute('href');
  if (publicLink !== `${base}/petitions/release-aziz`) throw new Error(`public link ${publicLink}`);
  const snippet = await page.getByLabel('Embed on another site').inputValue();
  if (!snippet.includes(`${base}/petitions/release-aziz/embed`)) throw new Error(`embed snippet ${snippet}`);
  console.log('ok case and petition created; public link and embed snippet shown');

  // Two signatures through the public form, for the exports.
  for (const [first, email, country] of [['Ann', 'ann@example.org', 'KG'], ['Ben', 'ben@example.org', 'GB']]) {
    const r = await fetch(`${base}/petitions/release-aziz/signatures`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ first_name: first, last_name: 'Signer', email, country, website: '' }),
      redirect: 'manual',
    });
    if (r.status !== 303) throw new Error(`signing answered ${r.status}`);
  }

  // A list, uploaded from a CSV file.
  await page.getByRole('link', { name: 'Lists' }).click();
  await page.getByLabel('Name').fill('Urgent action network');
  await page.getByRole('button', { name: 'Create list' }).click();
  await page.waitForURL(`${base}/admin/lists`);
  const csv = join(work, 'network.csv');
  writeFileSync(csv, 'email,first_name,last_name,country\nrosa@example.org,Rosa,Lind,SE\nkenji@example.org,Kenji,Sato,JP\nnot-an-email,Bad,Row,KG\nlena@example.org,Lena,Berg,DE\n');
  await page.getByLabel(/CSV file/).setInputFiles(csv);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.locator('#import-report').waitFor();
  const added = await page.locator('[data-report="added"]').textContent();
  const rejected = await page.locator('[data-report="rejected"]').textContent();
  if (added !== '3' || rejected !== '1') throw new Error(`import report added ${added} rejected ${rejected}`);
  await check(page, 'lists with import report');
  console.log('ok CSV uploaded: 3 imported, 1 rejected with its line');

  // Compose, preview (server-side and live), test-send, send.
  await page.getByRole('link', { name: 'Alerts' }).click();
  await page.getByRole('link', { name: 'New alert' }).click();
  await page.getByLabel('Case').selectOption({ label: 'Free Aziz Karimov' });
  await page.getByLabel(/^Petition/).selectOption({ label: 'Release Aziz now' });
  await page.getByLabel(/Urgent action network/).check();
  await page.locator('#subject').fill('Aziz needs you today');
  await page.locator('#body_markdown').fill('Aziz was **detained** on Monday.\n\nPlease sign and share.');
  await check(page, 'compose alert');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await page.waitForURL(/\/admin\/alerts\/[0-9a-f-]+$/);
  const alertUrl = page.url();
  const frame = page.frameLocator('#preview-html');
  await frame.locator('strong', { hasText: 'detained' }).waitFor();
  const text = await page.locator('#preview-text').textContent();
  if (!/Alex/.test(text)) throw new Error('text preview does not greet the sample supporter');
  await page.locator('#body_markdown').fill('Aziz was **detained** on Monday.\n\nPlease *sign now*.');
  await waitFor('the live text preview', async () => /sign now/.test(await page.locator('#preview-text').textContent()));
  await frame.locator('em', { hasText: 'sign now' }).waitFor();
  console.log('ok preview shows the HTML and text parts, and follows the edits live');
  // Add a language and see its preview before saving it.
  await page.locator('#variant_locale_0').selectOption('fr');
  await page.locator('#variant_subject_0').fill('Aziz a besoin de vous');
  await page.locator('#variant_body_0').fill('Aziz a été **arrêté** lundi.');
  await page.locator('#variant_preview_0').click();
  await frame.locator('strong', { hasText: 'arrêté' }).waitFor();
  await frame.getByText('Bonjour Alex,').waitFor();
  const frameLang = await frame.locator('html').getAttribute('lang');
  if (frameLang !== 'fr') throw new Error(`the French row previews as lang=${frameLang}`);
  console.log('ok a new language previews in the frame, in French, before it is saved');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await page.getByText('Saved.').waitFor();
  await check(page, 'alert draft');
  await page.getByRole('button', { name: 'Send a test to me' }).click();
  await page.getByText('A test copy is on its way').waitFor();
  await waitFor('the test copy', () => sink.messages.find((m) => m.rcpt.includes('camila@example.org') && /\[TEST\]/.test(m.data)));
  console.log('ok test copy received by the SMTP sink');
  await page.getByRole('link', { name: 'Send…' }).click();
  await page.waitForURL(`${alertUrl}/send`);
  const audience = await page.locator('#audience').getAttribute('data-audience');
  if (audience !== '3') throw new Error(`audience ${audience}`);
  await check(page, 'send confirmation');
  await page.getByRole('button', { name: 'Send to 3 people' }).click();
  await page.waitForURL(alertUrl);
  await check(page, 'alert progress');
  await waitFor('progress to reach every recipient', async () => (await page.locator('[data-count="sent"]').textContent()) === '3');
  await waitFor('the status to say sent', async () => (await page.locator('#alert-status').textContent()) === 'sent');
  const delivered = sink.messages.filter((m) => !/\[TEST\]/.test(m.data)).flatMap((m) => m.rcpt).sort();
  if (delivered.join() !== 'kenji@example.org,lena@example.org,rosa@example.org') throw new Error(`delivered to ${delivered}`);
  await check(page, 'alert sent');
  console.log('ok alert sent; the progress page counted every recipient');

  // Exports.
  await page.goto(petitionUrl);
  await check(page, 'petition with exports');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download signatures (CSV)' }).click(),
  ]);
  const exported = readFileSync(await download.path(), 'utf8');
  if (!/signed_at,confirmed_at,first_name/.test(exported) || !/ann@example.org/.test(exported) || !/ben@example.org/.test(exported)) {
    throw new Error(`signatures CSV:\n${exported}`);
  }
  const [byCountry] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download counts by country (CSV)' }).click(),
  ]);
  const counts = readFileSync(await byCountry.path(), 'utf8');
  if (counts !== 'key,count\r\nGB,1\r\nKG,1\r\n') throw new Error(`counts CSV ${JSON.stringify(counts)}`);
  console.log('ok exports downloaded and checked');

  await page.goto(`${base}/admin`);
  await check(page, 'dashboard');
  for (const [path, name] of [['/admin/petitions', 'petitions'], ['/admin/alerts', 'alerts'], ['/admin/supporters?email=rosa@example.org', 'supporter search'], ['/admin/supporters?per_page=1', 'supporters, a page of one']]) {
    await page.goto(`${base}${path}`);
    await check(page, name);
  }
  // The listing's page navigation: next to page 2, then back.
  await page.getByRole('link', { name: 'Next page' }).click();
  await page.waitForURL(`${base}/admin/supporters?page=2&per_page=1`);
  await page.getByRole('link', { name: 'Previous page' }).waitFor();
  console.log('ok the supporters listing pages with next and previous links');

  // An organiser: no send button, and the route refuses.
  const organiser = await newPage();
  await signIn(organiser, 'omar@example.org');
  await organiser.goto(alertUrl);
  if (await organiser.locator('#send-button').count()) throw new Error('organiser sees the send button');
  await check(organiser, 'alert as organiser');
  const denied = await organiser.goto(`${alertUrl}/send`);
  if (denied.status() !== 403) throw new Error(`organiser GET send: ${denied.status()}`);
  await check(organiser, 'forbidden');
  await organiser.goto(`${base}/admin`);
  const csrf = await organiser.locator('input[name="csrf"]').first().inputValue();
  const post = await organiser.context().request.post(`${alertUrl}/send`, { form: { csrf }, headers: { origin: base }, maxRedirects: 0 });
  if (post.status() !== 403) throw new Error(`organiser POST send: ${post.status()}`);
  console.log('ok an organiser cannot reach the send button or its route (403)');

  // An admin: users page, erase confirmation.
  const admin = await newPage();
  await signIn(admin, 'ada@example.org');
  await admin.goto(`${base}/admin/users`);
  await check(admin, 'users');
  await admin.goto(`${base}/admin/supporters?email=rosa@example.org`);
  await admin.getByRole('link', { name: 'Erase…' }).click();
  await check(admin, 'erase confirmation');
  await admin.goto(`${base}/admin?lang=ru`);
  await admin.getByRole('heading', { name: 'Сводка' }).waitFor();
  await check(admin, 'dashboard in Russian');

  if (cspErrors.length) throw new Error(`CSP violations or page errors:\n${cspErrors.join('\n')}`);
  console.log('ok no Content-Security-Policy violation');
  console.log(`screenshots in ${shots}`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
  if (allConsole.length) console.error(`browser console:\n${allConsole.join('\n')}`);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  sink.server.close();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
