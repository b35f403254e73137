#!/usr/bin/env node
// End-to-end test of the staff console (web/staff/) in Debian's chromium.
//
//   node tests/e2e/staff.mjs                      # from the repository root (or anywhere)
//   E2E_SCREENSHOTS=1 node tests/e2e/staff.mjs    # also writes docs/staff-console.png
//
// Needs target/release/madoguchi (cargo build --release; or MADOGUCHI_BIN=path), /usr/bin/chromium
// (or CHROMIUM=path) and playwright-core + axe-core in tests/e2e/node_modules. Starts its own
// server on a free 127.0.0.1 port with a temporary copy of faq/, a temporary database and index,
// creates a staff and an admin account, and always stops the server and removes the files.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BIN = process.env.MADOGUCHI_BIN || path.join(ROOT, 'target', 'release', 'madoguchi');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AXE = path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js');
const SCREENSHOT = path.join(ROOT, 'docs', 'staff-console.png');
const PASSWORD = 'e2e staff console secret';
const STAFF = 'e2e-tanaka';
const ADMIN = 'e2e-suzuki';
const LOCKED = 'e2e-sato'; // throttled at this address by five wrong passwords just before
const TIMEOUT = 15_000;

const OUT_OF_SCOPE = '宇宙旅行の予約はできますか';
const INQUIRY = 'マイナンバーカードの暗証番号を自分で変更したい';
const HTML_QUESTION = '<img src=x onerror=alert(1)>粗大ごみの出し方';
const NEW_ID = 'e2e-drone-001';
const GOOD_CSV = 'id,question,answer,category1,category2\n'
  + `${NEW_ID},見本町でドローンを飛ばす許可はどこに申請しますか,ドローン飛行の相談は見本町役場 総務課で受け付けます。,くらし,ドローン\n`;
const BAD_CSV = 'id,question,answer,category1,category2\n'
  + 'e2e-bad-001,回答のない質問です,,くらし,テスト\n';

// ---------------------------------------------------------------------------------------------

const results = [];
let failed = false;
let activeServer = null; // stopped on Ctrl-C, SIGTERM and the watchdog too
const WATCHDOG_MS = Number(process.env.E2E_TIMEOUT_MS) || 300_000;

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`  ✓ ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - t0, err });
    console.log(`  ✗ ${name}\n      ${String(err && err.stack ? err.stack : err).split('\n').slice(0, 6).join('\n      ')}`);
    throw Object.assign(new Error(`step failed: ${name}`), { stepFailure: true, cause: err });
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Server

function cleanEnv(extra = {}) {
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', ...extra };
  for (const k of ['MADOGUCHI_LLM_URL', 'MADOGUCHI_LLM_MODEL', 'MADOGUCHI_DATABASE_URL', 'MADOGUCHI_CORS_ORIGINS', 'MADOGUCHI_ADMIN_TOKEN']) {
    delete env[k];
  }
  return env;
}

async function startServer(tmp) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = path.join(tmp, 'madoguchi.toml'); // absent: defaults
  const dataDir = path.join(tmp, 'data');
  for (const [name, role] of [[STAFF, 'staff'], [ADMIN, 'admin'], [LOCKED, 'staff']]) {
    execFileSync(BIN, ['user', 'add', name, '--role', role, '--data-dir', dataDir, '--config', config], {
      cwd: ROOT, env: cleanEnv({ MADOGUCHI_USER_PASSWORD: PASSWORD }), stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  // The admin works for 見本町: the console's inquiry search starts there (issue #19).
  execFileSync(BIN, ['user', 'municipality', ADMIN, '999008', '--data-dir', dataDir, '--config', config], {
    cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  const child = spawn(BIN, [
    'serve', '--listen', `127.0.0.1:${port}`,
    '--faq', path.join(tmp, 'faq'), '--index', path.join(tmp, 'index'), '--config', config,
    '--data-dir', dataDir, '--watch-interval', '0', '--rate-limit', '0',
  ], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d) => {
    log.push(d.toString());
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const server = {
    base, child, log,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    },
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`server exited early (${JSON.stringify(exited)}):\n${log.join('')}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`server not ready after 120 s:\n${log.join('')}`);
    }
    await sleep(250);
  }
  return server;
}

async function chat(base, message, municipality) {
  const body = { message };
  if (municipality) body.municipality = municipality;
  const r = await fetch(`${base}/api/chat`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`POST /api/chat ${JSON.stringify(message)} → ${r.status} ${await r.text()}`);
  return r.json();
}

// ---------------------------------------------------------------------------------------------
// Browser helpers

const AXE_SOURCE = fs.existsSync(AXE) ? fs.readFileSync(AXE, 'utf8') : null;

/** Runs axe-core; serious or critical violations fail, others are printed. */
async function axeCheck(page, label) {
  if (!AXE_SOURCE) {
    console.log(`    (axe-core not installed; skipped the accessibility check of ${label})`);
    return;
  }
  // Evaluated through the DevTools protocol, which the page's CSP does not restrict.
  await page.evaluate(AXE_SOURCE);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of r.filter((x) => !bad.includes(x))) {
    console.log(`    axe (${label}) ${v.impact}: ${v.id} — ${v.help} [${v.nodes.join(', ')}]`);
  }
  assert(!bad.length, `accessibility violations on ${label}:\n${bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(', ')}`).join('\n')}`);
}

async function signIn(page, name, password) {
  await page.fill('#signin-name', name);
  await page.fill('#signin-password', password);
  await page.click('#signin-submit');
}

async function openTab(page, label) {
  await page.getByRole('tab', { name: label }).click();
  await page.getByRole('heading', { level: 1, name: label }).waitFor({ state: 'visible' });
}

// ---------------------------------------------------------------------------------------------

async function main() {
  assert(fs.existsSync(BIN), `no server binary at ${BIN}: run 'cargo build --release' first (or set MADOGUCHI_BIN)`);
  assert(fs.existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'madoguchi-staff-e2e-'));
  fs.cpSync(path.join(ROOT, 'faq'), path.join(tmp, 'faq'), { recursive: true });
  let server = null;
  let browser = null;
  const pageErrors = [];
  let lastPage = null;
  try {
    await step('server starts with a staff and an admin account', async () => {
      server = await startServer(tmp);
      activeServer = server;
    });
    const base = server.base;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    context.setDefaultTimeout(TIMEOUT);
    const page = await context.newPage();
    lastPage = page;
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // 401/403/422 answers are expected in this test; Chrome logs each as a failed resource.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
    });
    page.on('dialog', (d) => {
      pageErrors.push(`unexpected dialog: ${d.message()}`);
      d.dismiss().catch(() => {});
    });

    // (1) Sign-in --------------------------------------------------------------------------
    await step('(1) /staff/ shows the sign-in screen; a wrong password is refused in words', async () => {
      await page.goto(`${base}/staff/`);
      await page.getByRole('heading', { name: 'サインイン' }).waitFor();
      assert(await page.getAttribute('html', 'lang') === 'ja', 'html lang is not ja');
      await axeCheck(page, 'sign-in screen');
      await signIn(page, STAFF, 'not the right password');
      const error = page.locator('#signin-error');
      await error.waitFor({ state: 'visible' });
      const text = await error.textContent();
      assert(text.includes('ユーザー名またはパスワードが違います'), `unexpected sign-in error: ${text}`);
      assert(await page.locator('#console-view').isHidden(), 'console shown after a wrong password');
    });

    await step('(1) a sign-in throttled after five wrong passwords is told so in words', async () => {
      for (let i = 0; i < 5; i++) {
        const r = await fetch(`${base}/staff/api/login`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: LOCKED, password: `wrong password ${i}` }),
        });
        assert(r.status === 401, `wrong password ${i}: ${r.status}`);
      }
      await signIn(page, LOCKED, PASSWORD);
      const error = page.locator('#signin-error', { hasText: '一時的に止めています' });
      await error.waitFor({ state: 'visible' });
      assert(/\d+秒ほど待って/.test(await error.textContent()), 'the wait is not named');
      assert(await page.locator('#console-view').isHidden(), 'console shown for a throttled sign-in');
    });

    await step('(1) staff signs in', async () => {
      await signIn(page, STAFF, PASSWORD);
      await page.getByRole('tab', { name: '問い合わせ対応' }).waitFor();
      const label = await page.textContent('#user-label');
      assert(label.includes(STAFF) && label.includes('職員'), `user label: ${label}`);
      assert(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'inquiry-q',
        'focus is not in the question box after sign-in');
    });

    // (2) Inquiry assistant ----------------------------------------------------------------
    await step('(2) an inquiry shows ranked candidates with answer, source, date and contact', async () => {
      await page.fill('#inquiry-q', INQUIRY);
      await page.getByRole('button', { name: '候補を探す' }).click();
      const first = page.locator('.candidate').first();
      await first.waitFor();
      const text = await first.textContent();
      assert(text.includes('暗証番号'), `first candidate does not mention 暗証番号: ${text.slice(0, 200)}`);
      assert(/スコア\s*\d/.test(text) && /一致度\s*\d+(\.\d)?%/.test(text), 'score/coverage missing');
      assert(text.includes('更新日') && text.includes('問い合わせ先'), 'updated date or contact missing');
      const answer = await first.locator('.answer').textContent();
      assert(answer.includes('暗証番号') && answer.length > 30, `answer text missing: ${answer}`);
      const source = first.locator('.entry-meta a').first();
      const href = await source.getAttribute('href');
      assert(/^https?:\/\//.test(href), `source link is not http(s): ${href}`);
      assert((await source.getAttribute('rel')) === 'noopener noreferrer', 'source link lacks rel=noopener noreferrer');
      assert(await page.locator('.candidate').count() >= 2, 'expected several candidates');
      assert((await page.textContent('#inquiry-results')).includes('回答'), 'decision not shown');
    });

    await step('(2) コピー copies the answer and the source URL, and says コピーしました', async () => {
      if (process.env.E2E_SCREENSHOTS === '1') {
        await page.evaluate(() => { document.getElementById('status').textContent = ''; });
        await page.evaluate(() => window.scrollTo(0, 0));
        fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
        await page.screenshot({ path: SCREENSHOT });
        console.log(`    wrote ${path.relative(ROOT, SCREENSHOT)}`);
      }
      const first = page.locator('.candidate').first();
      await first.getByRole('button', { name: 'コピー' }).click();
      await first.locator('.copy-status', { hasText: 'コピーしました' }).waitFor();
      const clip = await page.evaluate(() => navigator.clipboard.readText());
      const answer = (await first.locator('.answer').textContent()).trim();
      assert(clip.includes(answer.slice(0, 20)), `clipboard lacks the answer: ${clip.slice(0, 100)}`);
      assert(/出典: https?:\/\//.test(clip), `clipboard lacks the source URL: ${clip}`);
      await axeCheck(page, 'inquiry assistant with results');
    });

    // (3) Resident traffic, logs, unanswered queue -----------------------------------------
    const posted = [];
    await step('(3) residents ask questions through POST /api/chat (one out of scope)', async () => {
      posted.push(await chat(base, INQUIRY));
      posted.push(await chat(base, OUT_OF_SCOPE));
      posted.push(await chat(base, OUT_OF_SCOPE));
      posted.push(await chat(base, '住民票の写しを取りたい', '999008'));
      posted.push(await chat(base, HTML_QUESTION, '999008'));
      const oos = posted[1];
      assert(oos.decision === 'fallback', `out-of-scope question was not a fallback: ${oos.decision}`);
      assert(posted[0].decision === 'answer', `inquiry was not answered: ${posted[0].decision}`);
      const fb = await fetch(`${base}/api/feedback`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ message_id: posted[3].message_id, helpful: false, comment: '窓口の場所が知りたかった' }),
      });
      assert(fb.ok, `feedback: ${fb.status}`);
      // Two entries opened from the category menu by 見本町 residents (POST /api/open, as the widget does).
      for (const id of ['mihon-shisetsu-001', 'mihon-shisetsu-001']) {
        const o = await fetch(`${base}/api/open`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ faq_id: id, via: 'menu', municipality: '999008' }),
        });
        assert(o.ok, `open: ${o.status}`);
      }
    });

    let vague = null;
    await step('(3) a resident opens a もしかして candidate in the widget and rates it 👎, no comment', async () => {
      for (const q of ['ごみ', 'カード', '届出', '証明書', '手続き']) {
        const r = await (await fetch(`${base}/api/search?q=${encodeURIComponent(q)}&municipality=999008`)).json();
        if (r.decision === 'candidates') { vague = q; break; }
      }
      assert(vague, 'no vague question yields candidates');
      const resident = await context.newPage();
      try {
        await resident.goto(`${base}/`);
        await resident.getByRole('button', { name: 'チャットで質問' }).click();
        const dialog = resident.getByRole('dialog', { name: 'よくある質問チャット' });
        await dialog.getByRole('textbox', { name: 'ご質問を入力してください' }).fill(vague);
        const reply = resident.waitForResponse((r) => r.url().endsWith('/api/chat'));
        await resident.keyboard.press('Enter');
        const m = /event: result\ndata: (.*)\n/.exec(await (await reply).text());
        posted.push(JSON.parse(m[1]));
        assert(posted.at(-1).decision === 'candidates', `the widget got ${posted.at(-1).decision}`);
        const list = dialog.locator('.m.b').filter({ has: resident.getByRole('heading', { name: 'もしかして…' }) });
        const first = list.locator('button.q').first();
        await first.waitFor();
        const question = (await first.innerText()).trim();
        await first.click();
        const msg = dialog.locator('.m.b').filter({ has: resident.getByRole('heading', { name: question, exact: true }) });
        const stored = resident.waitForResponse((r) => r.url().endsWith('/api/feedback'));
        await msg.getByRole('button', { name: '役に立たなかった' }).click();
        assert((await stored).status() === 201, 'the 👎 was not stored');
      } finally {
        await resident.close();
      }
    });

    await step('(3) ログ lists the questions, escapes HTML, filters, and links CSV/JSONL downloads', async () => {
      await openTab(page, 'ログ');
      const table = page.locator('.logs-table');
      await table.waitFor();
      await page.locator('.logs-table td', { hasText: OUT_OF_SCOPE }).first().waitFor();
      const caption = await table.locator('caption').textContent();
      assert(caption.includes(`${posted.length}件`), `log caption: ${caption}`);
      const htmlCell = page.locator('.logs-table td', { hasText: '<img' });
      assert(await htmlCell.count() === 1, 'the question with HTML is not shown as text');
      assert(await page.locator('.logs-table img').count() === 0, 'resident HTML was rendered as an element');
      assert((await page.textContent('.logs-table')).includes('窓口の場所が知りたかった'), 'comment not shown');
      // decision filter: the two out-of-scope questions and the one drowned in HTML fall back
      await page.selectOption('#logs-decision', 'fallback');
      await page.getByRole('button', { name: '表示' }).click();
      await page.locator('.logs-table caption', { hasText: 'ログ 3件' }).waitFor();
      const badges = await page.locator('.logs-table tbody .badge').allTextContents();
      assert(badges.length === 3 && badges.every((b) => b === '回答なし'), `filtered decisions: ${badges}`);
      const csv = await page.getAttribute('#logs-csv', 'href');
      const jsonl = await page.getAttribute('#logs-jsonl', 'href');
      assert(csv.includes('format=csv') && csv.includes('decision=fallback'), `csv link: ${csv}`);
      assert(jsonl.includes('format=jsonl') && jsonl.includes('decision=fallback'), `jsonl link: ${jsonl}`);
      const body = await page.evaluate(async (u) => {
        const r = await fetch(u, { credentials: 'same-origin' });
        return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
      }, csv);
      assert(body.status === 200 && body.type.includes('text/csv'), `csv download: ${body.status} ${body.type}`);
      assert(body.text.includes(OUT_OF_SCOPE) && !body.text.includes('住民票'), 'csv download does not follow the filters');
      await axeCheck(page, 'logs');
      await page.selectOption('#logs-decision', '');
    });

    await step('(3) 未解決の質問 shows the group; FAQ追加済み changes its status', async () => {
      await openTab(page, '未解決の質問');
      const group = page.locator('.group', { has: page.getByRole('heading', { name: OUT_OF_SCOPE }) });
      await group.waitFor();
      assert((await group.textContent()).includes('2件'), `group count: ${await group.textContent()}`);
      assert((await group.locator('[data-role=status]').textContent()) === '未対応', 'group is not open');
      assert(await page.locator('.groups h2', { hasText: '<img' }).count() === 1, 'HTML question not shown as text');
      assert(await page.locator('.groups img').count() === 0, 'resident HTML was rendered as an element');
      assert(await page.locator('.groups h2', { hasText: '住民票の写しを取りたい' }).count() === 1, 'the 👎 question is not queued');
      assert(await page.locator('.groups h2', { hasText: vague }).count() >= 1, `the question whose candidate got 👎 (${vague}) is not queued`);
      await axeCheck(page, 'unanswered queue');
      await group.getByRole('button', { name: 'FAQ追加済み' }).click();
      await group.locator('[data-role=status]', { hasText: 'FAQ追加済み' }).waitFor();
      await group.getByRole('button', { name: '未対応に戻す' }).waitFor();
      // reloaded from the server
      await page.selectOption('#unanswered-status', 'faq_added');
      await page.getByRole('button', { name: '表示' }).click();
      await page.locator('.group', { has: page.getByRole('heading', { name: OUT_OF_SCOPE }) })
        .locator('[data-role=status]', { hasText: 'FAQ追加済み' }).waitFor();
    });

    // (4) Figures ---------------------------------------------------------------------------
    await step('(4) 集計 shows the question count, rates, per-day bars, categories and 👎', async () => {
      await openTab(page, '集計');
      const total = page.locator('.stat-total .stat-value');
      await total.waitFor();
      const text = (await total.textContent()).trim();
      assert(text === `${posted.length}件`, `question count ${text}, expected ${posted.length}件`);
      assert(await page.locator('.bar-table tbody tr').count() >= 1, 'no per-day rows');
      assert(await page.locator('.bar-table .bar').count() >= 1, 'no bars drawn');
      const width = await page.locator('.bar-table .bar').first().evaluate((b) => b.getBoundingClientRect().width);
      assert(width > 0, 'bars have no width (CSP-safe styling failed?)');
      assert((await page.textContent('#stats-results')).includes('マイナンバーカード'), 'top categories missing');
      const opened = (await page.locator('.stat-opened .stat-value').textContent()).trim();
      assert(opened === '2件', `entries opened from the menu: ${opened}`);
      assert((await page.textContent('#stats-results')).includes('mihon-shisetsu-001'), 'most opened entries missing');
      await axeCheck(page, 'figures');
      // One municipality's figures: only its residents' questions.
      await page.selectOption('#stats-municipality', '999008');
      await page.locator('#stats-form').getByRole('button', { name: '表示' }).click();
      await page.getByRole('heading', { name: '見本町（999008）・直近30日の概要', exact: true }).waitFor();
      const town = (await page.locator('.stat-total .stat-value').textContent()).trim();
      // Two through the API, one through the widget (the demo page is 見本町's).
      assert(town === '3件', `見本町 question count ${town}, expected 3件`);
    });

    // (5) Roles and FAQ management ---------------------------------------------------------
    await step('(5) FAQ管理 is not offered to staff; admin API answers 403', async () => {
      assert(await page.getByRole('tab', { name: 'FAQ管理' }).count() === 0, 'FAQ管理 tab visible for staff');
      assert(await page.locator('#panel-faq').isHidden(), 'FAQ panel visible for staff');
      const status = await page.evaluate(async () => (await fetch('/staff/api/users', { credentials: 'same-origin' })).status);
      assert(status === 403, `GET /staff/api/users as staff: ${status}`);
    });

    await step('(5) keyboard: arrow keys move between tabs', async () => {
      await page.getByRole('tab', { name: '問い合わせ対応' }).click();
      await page.keyboard.press('ArrowRight');
      assert(await page.getAttribute('#tab-logs', 'aria-selected') === 'true', 'ArrowRight did not select ログ');
      assert(await page.evaluate(() => document.activeElement.id) === 'tab-logs', 'focus did not follow');
      await page.keyboard.press('End');
      assert(await page.getAttribute('#tab-stats', 'aria-selected') === 'true', 'End did not select the last visible tab');
    });

    await step('(5) sign out, sign in as admin', async () => {
      await page.getByRole('button', { name: 'サインアウト' }).click();
      await page.getByRole('heading', { name: 'サインイン' }).waitFor();
      assert((await page.textContent('#signin-notice')).includes('サインアウトしました'), 'no signed-out notice');
      assert((await page.textContent('#stats-results')).trim() === '', 'previous user\'s figures left in the page');
      await signIn(page, ADMIN, PASSWORD);
      await page.getByRole('tab', { name: 'FAQ管理' }).waitFor();
      assert((await page.textContent('#user-label')).includes('管理者'), 'admin role not shown');
      const start = await page.inputValue('#inquiry-municipality');
      assert(start === '999008', `the inquiry search starts in the admin's municipality, not '${start}'`);
    });

    await step('(5) upload a valid CSV for 999008: diff shows 1 added; apply; the entry is served', async () => {
      await openTab(page, 'FAQ管理');
      await page.setInputFiles('#faq-file', { name: 'e2e-faq.csv', mimeType: 'text/csv', buffer: Buffer.from(GOOD_CSV) });
      assert(await page.inputValue('#faq-name') === 'e2e-faq.csv', 'file name not suggested');
      await page.selectOption('#faq-target', '999008');
      assert(await page.isDisabled('#faq-apply'), '反映 enabled before 確認');
      await page.getByRole('button', { name: '確認' }).click();
      await page.locator('[data-diff=added]', { hasText: '1件' }).waitFor();
      assert((await page.textContent('[data-diff=changed]')) === '0件', 'changed is not 0');
      assert((await page.textContent('[data-diff=removed]')) === '0件', 'removed is not 0');
      assert((await page.textContent('#faq-results [data-kind=added]')).includes(NEW_ID), 'added id not listed');
      await axeCheck(page, 'FAQ management with a diff');
      await page.getByRole('button', { name: '反映' }).click();
      await page.getByRole('heading', { name: '反映しました' }).waitFor();
      assert(await page.isDisabled('#faq-apply'), '反映 still enabled after applying');
      const r = await fetch(`${base}/api/search?q=${encodeURIComponent('ドローンを飛ばす許可')}&municipality=999008`);
      const j = await r.json();
      assert(r.ok && j.hits.length && j.hits[0].faq_id === NEW_ID, `new entry not served: ${JSON.stringify(j).slice(0, 300)}`);
      const dl = await page.evaluate(async () => {
        document.getElementById('faq-download-municipality').value = '999008';
        document.getElementById('faq-download-municipality').dispatchEvent(new Event('change'));
        document.getElementById('faq-download-format').value = 'csv';
        document.getElementById('faq-download-format').dispatchEvent(new Event('change'));
        const href = document.getElementById('faq-download').getAttribute('href');
        const res = await fetch(href, { credentials: 'same-origin' });
        return { href, status: res.status, text: await res.text() };
      });
      assert(dl.href.includes('municipality=999008') && dl.href.includes('format=csv') && dl.status === 200 && dl.text.includes(NEW_ID),
        `download: ${dl.href} ${dl.status}`);
      // The town's rows, uploaded back unchanged to replace its files: the preview shows no change.
      await page.setInputFiles('#faq-file', { name: 'madoguchi-faq-999008.csv', mimeType: 'text/csv', buffer: Buffer.from(dl.text) });
      await page.selectOption('#faq-target', '999008');
      await page.check('#faq-replace');
      await page.getByRole('button', { name: '確認' }).click();
      await page.locator('#faq-results .notice', { hasText: 'このファイルを反映しても、FAQの内容は変わりません。' }).waitFor();
      assert((await page.textContent('#faq-results')).includes('次のファイルは削除されます'), 'replaced files not named');
      await page.uncheck('#faq-replace');
    });

    await step('(5) an invalid CSV shows its problems in Japanese by row and cannot be applied', async () => {
      await page.setInputFiles('#faq-file', { name: 'e2e-bad.csv', mimeType: 'text/csv', buffer: Buffer.from(BAD_CSV) });
      await page.getByRole('button', { name: '確認' }).click();
      const item = page.locator('.problem-list li').first();
      await item.waitFor();
      const problems = await page.locator('.problem-list li').allTextContents();
      assert(problems.some((p) => /^アップロードしたファイル（e2e-bad\.csv） 2行目：ID「.*」の/.test(p)), `problems: ${problems.join(' | ')}`);
      assert(await page.isDisabled('#faq-apply'), '反映 enabled for an invalid file');
      assert(!fs.existsSync(path.join(tmp, 'faq', 'municipalities', '999008', 'e2e-bad.csv')), 'invalid file was written');
      await axeCheck(page, 'FAQ management with problems');
    });

    // (6) Anonymous access and session handling ---------------------------------------------
    await step('(6) anonymous GET /staff/api/logs is 401; a POST without the CSRF token is 403', async () => {
      const r = await fetch(`${base}/staff/api/logs`);
      assert(r.status === 401, `anonymous logs: ${r.status}`);
      const j = await r.json();
      assert(typeof j.error === 'string', '401 body is not {"error": …}');
      const csrf = await page.evaluate(async () => (await fetch('/staff/api/unanswered/mark', {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ key: 'x', status: 'open' }),
      })).status);
      assert(csrf === 403, `POST without CSRF token: ${csrf}`);
    });

    await step('(6) when the session is gone, the next action shows the sign-in screen', async () => {
      await context.clearCookies();
      await openTab(page, '集計');
      await page.getByRole('button', { name: '表示' }).click();
      await page.getByRole('heading', { name: 'サインイン' }).waitFor();
      assert((await page.textContent('#signin-notice')).includes('もう一度サインイン'), 'no session-expired notice');
    });

    await step('no script errors, CSP violations or dialogs in the page', async () => {
      assert(!pageErrors.length, pageErrors.join('\n'));
    });
  } catch (err) {
    failed = true;
    if (lastPage) {
      const shot = path.join(os.tmpdir(), 'madoguchi-staff-e2e-failure.png');
      await lastPage.screenshot({ path: shot, fullPage: true }).then(() => console.log(`  (screenshot of the failure: ${shot})`), () => {});
    }
    throw err;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (server) await server.stop();
    if (failed && server) console.log(`--- server log (tail) ---\n${server.log.join('').slice(-4000)}`);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function abort(why) {
  console.log(`\n  ✗ ${why}; stopping the server`);
  if (activeServer) activeServer.child.kill('SIGKILL');
  process.exit(1);
}
process.on('SIGINT', () => abort('interrupted'));
process.on('SIGTERM', () => abort('terminated'));
const watchdog = setTimeout(() => abort(`the test took longer than ${WATCHDOG_MS / 1000} s`), WATCHDOG_MS);

console.log('staff console end-to-end test');
main()
  .catch((err) => {
    failed = true;
    if (!err.stepFailure) console.log(`  ✗ ${err && err.stack ? err.stack : err}`);
  })
  .finally(() => {
    const passed = results.filter((r) => r.ok).length;
    const bad = results.filter((r) => !r.ok);
    console.log(`\nsummary: ${passed} passed, ${bad.length} failed${failed ? ' — FAILED' : ''}`);
    for (const r of bad) console.log(`  failed: ${r.name}: ${r.err && r.err.message}`);
    process.exitCode = failed ? 1 : 0;
    clearTimeout(watchdog);
  });
