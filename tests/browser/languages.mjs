// Languages in Debian's headless Chromium (playwright-core): the Arabic
// petition page (also with the form's mistakes) and the Arabic console,
// signed in, are right to left (<html dir="rtl" lang="ar">), fit a 360 px
// phone, and axe-core finds no serious or critical violation there at 360 px
// and 1280 px; every page is screenshotted under target/browser/languages/
// for review. Then a person signs in French through the browser and confirms
// through the link of the French confirmation mail.
//
//   node languages.mjs       (CLARION_BIN, CHROMIUM_PATH override the defaults)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
const shots = join(root, 'target/browser/languages');
mkdirSync(shots, { recursive: true });
const SLUG = 'free-azimjan-askarov'; // the demo case's petition
const PASSWORD = 'correct horse battery';

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
      const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
      body = Buffer.from(bytes, 'latin1').toString('utf8');
    }
    out.push(body);
  }
  return out.join('\n');
}

const AXE_RUN = `axe.run(document, { runOnly: { type: 'tag', values:
  ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })`;

/** The page's <html> says this language and direction. */
async function expectLanguage(page, lang, dir) {
  const got = await page.evaluate(() => ({
    lang: document.documentElement.getAttribute('lang'),
    dir: document.documentElement.getAttribute('dir'),
  }));
  if (got.lang !== lang || got.dir !== dir) {
    throw new Error(`${page.url()}: <html lang="${got.lang}" dir="${got.dir}">, expected lang="${lang}" dir="${dir}"`);
  }
}

let shotNo = 0;
/** axe at 360 px and 1280 px, no sideways scrolling on the phone, screenshots. */
async function check(page, name, lang, dir) {
  await page.waitForLoadState('load');
  await expectLanguage(page, lang, dir);
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
      // Right to left, overflow would go off the left edge: look at both.
      const off = await page.evaluate(() => ({
        width: document.documentElement.scrollWidth,
        out: [...document.querySelectorAll('body *')]
          .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.right > 361 || r.left < -1); })
          .filter((e) => !e.closest('.table-scroll, .skip-link, .visually-hidden, .hp'))
          .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`).slice(0, 8),
      }));
      if (off.width > 360 || off.out.length) {
        throw new Error(`${name}: ${off.width}px wide, reaches past a 360px phone's edge: ${off.out.join(', ')}`);
      }
    }
    shotNo += 1;
    const file = `${String(shotNo).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}-${w}.png`;
    await page.screenshot({ path: join(shots, file), fullPage: true });
  }
  console.log(`ok ${name}: ${lang} ${dir}, no serious or critical axe violation, fits 360px, screenshots taken`);
}

const work = mkdtempSync(join(tmpdir(), 'clarion-languages-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const outbox = join(work, 'outbox');
const env = {
  ...process.env,
  CLARION_DATABASE_URL: `sqlite://${join(work, 'clarion.db')}`,
  CLARION_HTTP_ADDR: `127.0.0.1:${port}`,
  CLARION_OUTBOX_DIR: outbox,
  CLARION_SMTP_URL: '',
  CLARION_LOG: 'warn',
};
const made = spawnSync(bin, ['user', 'create', '--email', 'layla@example.org', '--role', 'campaigner', '--password-stdin'], { env, input: `${PASSWORD}\n` });
if (made.status !== 0) throw new Error(`user create failed: ${made.stderr}`);
const server = spawn(bin, ['serve', '--demo'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
let browser;
let failed = false;
const pageErrors = [];
try {
  await waitFor('clarion to listen', () => fetch(`${base}/healthz`).then((r) => r.ok, () => false));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-extensions', '--no-first-run'],
  });
  const newPage = async (locale) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale });
    const page = await context.newPage();
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) pageErrors.push(m.text()); });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    return page;
  };

  // The Arabic petition page, then the form sent with mistakes.
  const ar = await newPage('ar-EG');
  await ar.goto(`${base}/petitions/${SLUG}?lang=ar`);
  await ar.getByRole('heading', { name: 'وقّع على هذه العريضة' }).waitFor();
  await check(ar, 'petition ar', 'ar', 'rtl');
  await ar.setViewportSize({ width: 360, height: 740 });
  await ar.getByLabel(/الاسم الأول/).fill('ليلى');
  await ar.getByLabel(/البريد الإلكتروني/).fill('not-an-address');
  await ar.getByRole('button', { name: 'وقّع على العريضة' }).click();
  await ar.waitForSelector('#error-summary');
  await ar.getByText('هناك مشكلة').waitFor();
  await check(ar, 'petition ar with errors', 'ar', 'rtl');
  // The same page found by the browser's language alone.
  await ar.goto(`${base}/petitions/${SLUG}`);
  await expectLanguage(ar, 'ar', 'rtl');
  console.log('ok Accept-Language: ar-EG gives the Arabic page');

  // The Arabic console, signed in with its Arabic labels.
  const con = await newPage('ar');
  await con.goto(`${base}/admin/login?lang=ar`);
  await check(con, 'console login ar', 'ar', 'rtl');
  await con.getByLabel('البريد الإلكتروني').fill('layla@example.org');
  await con.getByLabel('كلمة المرور').fill(PASSWORD);
  await con.getByRole('button', { name: 'دخول' }).click();
  await con.waitForURL(/\/admin(\?.*)?$/);
  for (const [path, name, heading] of [
    ['/admin', 'console dashboard ar', 'لوحة المتابعة'],
    ['/admin/cases', 'console cases ar', 'القضايا'],
    ['/admin/petitions', 'console petitions ar', 'العرائض'],
    ['/admin/alerts/new', 'console compose alert ar', 'كتابة تنبيه'],
    ['/admin/supporters', 'console supporters ar', 'المناصرون'],
  ]) {
    await con.goto(`${base}${path}?lang=ar`);
    await con.getByRole('heading', { name: heading, exact: true }).first().waitFor();
    await check(con, name, 'ar', 'rtl');
  }
  // The case's page, reached as a campaigner would, from its listing.
  await con.goto(`${base}/admin/petitions?lang=ar`);
  await con.locator('main table a').first().click();
  await con.waitForLoadState('load');
  await check(con, 'console petition ar', 'ar', 'rtl');

  // Sign in French and confirm through the French mail.
  const fr = await newPage('fr-FR');
  await fr.setViewportSize({ width: 360, height: 740 });
  await fr.goto(`${base}/petitions/${SLUG}`);
  await check(fr, 'petition fr', 'fr', 'ltr');
  await fr.getByLabel('Prénom').fill('Céline');
  await fr.getByLabel('Nom', { exact: true }).fill('Durand');
  await fr.getByLabel('Adresse e-mail').fill('celine.durand@example.org');
  await fr.getByLabel('Pays').selectOption('FR');
  if ((await fr.getByLabel('Pays').locator('option:checked').textContent()) !== 'France') throw new Error('country not named in French');
  await fr.getByRole('button', { name: 'Signer la pétition' }).click();
  await fr.waitForURL(`${base}/petitions/${SLUG}/thanks`);
  await fr.getByText('Encore une étape').waitFor();
  await check(fr, 'thanks fr', 'fr', 'ltr');
  const mail = await waitFor('the French confirmation mail', () => {
    if (!existsSync(outbox)) return null;
    for (const f of readdirSync(outbox)) {
      const text = mailText(readFileSync(join(outbox, f), 'utf8'));
      const link = text.match(/https?:\/\/[^\s"<>]+\/confirm\/[A-Za-z0-9_-]+/);
      if (link) return { text, link: link[0] };
    }
    return null;
  });
  for (const words of ['Bonjour Céline,', 'Votre signature comptera dès que vous l’aurez confirmée.', '<html lang="fr" dir="ltr">']) {
    if (!mail.text.includes(words)) throw new Error(`the mail lacks ${words}:\n${mail.text}`);
  }
  console.log('ok the confirmation mail is in French');
  await fr.goto(mail.link);
  await fr.getByText('Votre signature est confirmée').waitFor();
  await check(fr, 'confirmed fr', 'fr', 'ltr');
  const counts = await (await fetch(`${base}/petitions/${SLUG}/counts.json`)).json();
  if (!(counts.by_country.FR >= 1)) throw new Error(`counts after confirming: ${JSON.stringify(counts)}`);
  console.log('ok signed and confirmed in French; the signature counts');

  // The Arabic confirmation mail, as a mail program would show its HTML.
  const signed = await fetch(`${base}/petitions/${SLUG}/signatures`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ first_name: 'ليلى', last_name: 'حسن', email: 'layla.hassan@example.org', country: 'EG', lang: 'ar', website: '' }),
    redirect: 'manual',
  });
  if (signed.status !== 303) throw new Error(`signing in Arabic answered ${signed.status}`);
  const arabicMail = await waitFor('the Arabic confirmation mail', () => {
    for (const f of readdirSync(outbox)) {
      const text = mailText(readFileSync(join(outbox, f), 'utf8'));
      const html = text.match(/<!DOCTYPE html>[\s\S]*?<\/html>/i);
      if (html && text.includes('مرحبًا ليلى،')) return html[0];
    }
    return null;
  });
  const mailPage = await newPage('ar');
  await mailPage.setContent(arabicMail);
  await check(mailPage, 'confirmation mail ar', 'ar', 'rtl');
  const bodyDir = await mailPage.evaluate(() => document.body.getAttribute('dir'));
  if (bodyDir !== 'rtl') throw new Error(`the mail's <body dir="${bodyDir}">`);

  // Spanish, at a glance.
  const es = await newPage('es-ES');
  await es.goto(`${base}/petitions/${SLUG}`);
  await es.getByRole('button', { name: 'Firmar la petición' }).waitFor();
  await check(es, 'petition es', 'es', 'ltr');

  if (pageErrors.length) throw new Error(`CSP violations or page errors:\n${pageErrors.join('\n')}`);
  console.log(`screenshots in ${shots}`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack || e}`);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
