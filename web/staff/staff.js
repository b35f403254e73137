// 窓口（madoguchi）職員コンソール.
//
// Plain ES module, no framework and no build step. Talks to /staff/api/* on the same origin
// with the HttpOnly session cookie; every POST carries the session's CSRF token.
//
// Security rule for this file: text from the API (FAQ answers, residents' questions, comments,
// error messages) is untrusted. It is only ever put into the page with textContent / text nodes
// (see `el`), never as HTML, and links are made only for http(s) URLs.

const CSRF_KEY = 'madoguchi.staff.csrf';

const DECISIONS = {
  answer: '回答',
  candidates: '候補提示',
  fallback: '回答なし',
  small_talk: '雑談',
};
const DECISION_HINTS = {
  answer: '上位の候補で回答できる可能性が高い質問です。',
  candidates: '複数の候補があります。内容を確かめて、合うものを選んでください。',
  fallback: 'FAQに該当する項目が見つかりませんでした。担当課に確認してください。',
};
const STATUSES = {
  open: '未対応',
  faq_added: 'FAQ追加済み',
  ignored: '対応不要',
};
const ROLES = { staff: '職員', admin: '管理者' };

const state = {
  user: null, // {name, role}
  csrf: null,
  municipalities: [], // [{code, name}]
  loaded: new Set(), // panels loaded once since sign-in
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = (id) => document.getElementById(id);

/**
 * Creates an element. `attrs`: `class`, `text`, `on*` handlers, booleans, everything else as an
 * attribute. Children: nodes, strings (as text), arrays, null/false (skipped).
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clear(node) {
  node.replaceChildren();
  return node;
}

let statusTimer = 0;
/** Shows a short message on screen and reads it out (the #status live region). */
function announce(message, kind = 'info') {
  const s = $('status');
  clearTimeout(statusTimer);
  s.textContent = '';
  s.dataset.kind = kind;
  // A fresh text node after a tick makes screen readers repeat identical messages.
  requestAnimationFrame(() => {
    s.textContent = message;
    s.title = message;
  });
  statusTimer = setTimeout(() => {
    s.textContent = '';
  }, 8000);
}

function errorBox(message) {
  return el('div', { class: 'notice notice-error', role: 'alert' }, message);
}

function emptyBox(message) {
  return el('p', { class: 'notice notice-info' }, message);
}

/** A URL object when `raw` is an absolute http(s) URL, otherwise null. */
function safeUrl(raw) {
  if (typeof raw !== 'string' || raw.length > 2000) return null;
  try {
    const u = new URL(raw.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

/** An external link, or plain text when the URL is not http(s). */
function link(raw, label) {
  const u = safeUrl(raw);
  if (!u) return document.createTextNode(label ?? String(raw ?? ''));
  return extLink(u, label ?? u.href);
}

/** `<a>` to a checked http(s) URL, opening in a new tab (said so to screen readers). */
function extLink(u, label) {
  return el('a', { href: u.href, target: '_blank', rel: 'noopener noreferrer' },
    label, el('span', { class: 'visually-hidden' }, '（新しいタブで開きます）'));
}

// `[label](url)` or a bare URL. Bare URLs stop at whitespace and Japanese punctuation.
const LINK_RE = /\[([^\]\n]{1,300})\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>"'「」『』（）()【】、。]+)/g;
const TRAILING = /[.,;:!?。、）)」』】]+$/;

/** The answer text as nodes: links made clickable (http/https only), the rest as text. */
function richText(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of String(text ?? '').matchAll(LINK_RE)) {
    let whole = m[0];
    let url = m[2] ?? m[3];
    let label = m[1];
    let tail = '';
    if (m[3]) {
      const t = url.match(TRAILING);
      if (t) {
        tail = t[0];
        url = url.slice(0, -tail.length);
        whole = url;
      }
    }
    frag.append(document.createTextNode(text.slice(last, m.index)));
    const u = safeUrl(url);
    frag.append(u ? extLink(u, label ?? url) : whole);
    last = m.index + whole.length;
  }
  frag.append(document.createTextNode(String(text ?? '').slice(last)));
  return frag;
}

/** The answer as plain text to paste into an e-mail or a chat: `label（URL）` for links. */
function plainText(text) {
  return String(text ?? '').replace(/\[([^\]\n]{1,300})\]\((https?:\/\/[^\s)]+)\)/g, '$1（$2）');
}

const pct = (x) => `${Math.round((Number(x) || 0) * 1000) / 10}%`;
const num = (x) => (Number(x) || 0).toLocaleString('ja-JP');
const dateTimeFmt = new Intl.DateTimeFormat('ja-JP', {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
});
function dateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? '') : dateTimeFmt.format(d);
}
function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

/** The log filter's default days are the office's (the server's [server] utc_offset), not UTC's. */
function officeDays(office) {
  if (!office || !/^\d{4}-\d\d-\d\d$/.test(office.today || '')) return;
  const today = new Date(`${office.today}T00:00:00Z`);
  $('logs-to').value = office.today;
  $('logs-from').value = isoDay(new Date(today.getTime() - 30 * 86400000));
  const zone = { '+00:00': '協定世界時（UTC）', '+09:00': '日本時間（UTC+09:00）' }[office.utc_offset];
  $('logs-zone').textContent = zone || `UTC${office.utc_offset}`;
  updateDownloadLinks();
}

function municipalityName(code) {
  if (!code || code === 'national') return '全国共通';
  const m = state.municipalities.find((x) => x.code === code);
  return m ? `${m.name}（${code}）` : code;
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.handled = false;
  }
}

/** The server's English error in Japanese (the original is kept when it is not known). */
function translate(status, raw) {
  const r = String(raw || '');
  const table = [
    [/^wrong name or password/, 'ユーザー名またはパスワードが違います。'],
    [/^too many sign-in attempts; try again in (\d+) s/, 'サインインに続けて失敗したため、この端末からのサインインを一時的に止めています。$1秒ほど待ってから、もう一度お試しください。'],
    [/^too many sign-ins at once/, 'サインインが集中しています。少し待ってから、もう一度お試しください。'],
    [/^the FAQ file was not applied/, '時間内に反映できなかったため、FAQは変更していません。ファイルを分けるか、管理者に設定の確認を依頼してください。'],
    [/^(sign in first|session expired)/, 'セッションの有効期限が切れました。もう一度サインインしてください。'],
    [/CSRF/i, '安全のため、もう一度サインインしてください。'],
    [/^administrators only/, '管理者だけが使える機能です。'],
    [/^too many requests/, 'アクセスが集中しています。しばらく待ってから、もう一度お試しください。'],
    [/^the file has problems/, 'ファイルに問題があります。FAQは変更されていません。'],
    [/^the FAQ was changed meanwhile/, 'ほかの管理者（または別のサーバー）が先にFAQを更新しました。何も反映していません。もう一度「確認」してから反映してください。'],
    [/^the reload failed/, '反映に失敗しました。ファイルを元に戻したため、住民に表示されるFAQは変わっていません。'],
    [/^the uploaded file is empty/, 'ファイルが空です。'],
    [/^file must be a plain name/, 'ファイル名は半角英数字と . _ - だけにし、拡張子を .csv .xlsx .yaml .yml .json .jsonl のいずれかにしてください。'],
    [/^synonyms\.csv is not a FAQ file/, 'synonyms.csv は同義語辞書のファイル名なので使えません。'],
    [/is not a municipality code/, '市区町村コードは検査数字を含む6桁（例：千代田区は 131016）で指定してください。'],
    [/^unknown municipality/, 'この市区町村はまだ登録されていません（madoguchi municipality add で登録します）。'],
    [/^municipality\.yaml is not a FAQ file/, 'municipality.yaml は市区町村の設定ファイルなので、FAQとしては登録できません。'],
    [/^bad date/, '日付は YYYY-MM-DD の形で指定してください。'],
    [/^q is empty/, '質問を入力してください。'],
    [/^q is too long/, '質問が長すぎます（2,000文字まで）。'],
    [/control characters/, '使えない制御文字が含まれています。'],
    [/^storage unavailable/, 'データベースに接続できません。しばらく待ってから、もう一度お試しください。'],
  ];
  for (const [re, ja] of table) {
    const m = r.match(re);
    if (m) return m[0].replace(re, ja); // fills $1 where the Japanese names a number
  }
  if (status === 413) return 'ファイルが大きすぎます（10MBまで）。';
  if (status === 408) return '時間内に処理が終わりませんでした。もう一度お試しください。';
  if (status >= 500) return `サーバーでエラーが発生しました（${status}）。しばらく待ってから、もう一度お試しください。`;
  return r ? `エラー（${status}）: ${r}` : `エラーが発生しました（${status}）。`;
}

/**
 * Calls the API. `json`: a body sent as JSON; `body`: raw bytes (a File). A 401 (or a CSRF
 * refusal) outside sign-in ends the session in the page and shows the sign-in screen.
 */
async function api(path, { method = 'GET', json, body, signin = false } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, credentials: 'same-origin', headers, cache: 'no-store' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/octet-stream';
    init.body = body;
  }
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'サーバーに接続できません。ネットワークの状態を確認してください。');
  }
  let data = null;
  if ((res.headers.get('content-type') || '').includes('json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const raw = data && typeof data.error === 'string' ? data.error : '';
    const err = new ApiError(res.status, translate(res.status, raw), data);
    if (!signin && (res.status === 401 || (res.status === 403 && /CSRF/i.test(raw)))) {
      err.handled = true;
      sessionEnded(err.message);
    }
    throw err;
  }
  return data;
}

/** Shows an API error in `container` (unless the sign-in screen already took over). */
function showError(container, err) {
  if (err && err.handled) return;
  const message = err instanceof ApiError ? err.message : `予期しないエラーが発生しました: ${err}`;
  clear(container).append(errorBox(message));
  announce(message, 'error');
}

function busy(button, on) {
  if (!button) return;
  button.disabled = on;
  button.setAttribute('aria-busy', on ? 'true' : 'false');
}

// ---------------------------------------------------------------------------------------------
// Sign-in and session

function show(view) {
  $('loading').hidden = true;
  $('signin-view').hidden = view !== 'signin';
  $('console-view').hidden = view !== 'console';
  $('user-area').hidden = view !== 'console';
}

function showSignIn(notice = '') {
  state.user = null;
  state.csrf = null;
  state.loaded.clear();
  sessionStorage.removeItem(CSRF_KEY);
  resetConsole();
  show('signin');
  const n = $('signin-notice');
  n.textContent = notice;
  n.hidden = !notice;
  $('signin-error').hidden = true;
  $('signin-password').value = '';
  document.title = 'サインイン — 窓口 職員コンソール';
  const name = $('signin-name');
  (name.value ? $('signin-password') : name).focus();
}

function sessionEnded(message) {
  showSignIn(message || 'セッションの有効期限が切れました。もう一度サインインしてください。');
  announce(message || 'セッションの有効期限が切れました。', 'error');
}

async function onSignIn(event) {
  event.preventDefault();
  const name = $('signin-name').value.trim();
  const password = $('signin-password').value;
  const errorEl = $('signin-error');
  errorEl.hidden = true;
  if (!name || !password) {
    errorEl.textContent = 'ユーザー名とパスワードを入力してください。';
    errorEl.hidden = false;
    (name ? $('signin-password') : $('signin-name')).focus();
    return;
  }
  const button = $('signin-submit');
  busy(button, true);
  try {
    const r = await api('/staff/api/login', { method: 'POST', json: { name, password }, signin: true });
    state.csrf = r.csrf_token;
    sessionStorage.setItem(CSRF_KEY, r.csrf_token);
    $('signin-password').value = '';
    enterConsole({ name: r.name, role: r.role, municipality: r.municipality, office: r.office });
    announce(`${r.name} さんとしてサインインしました。`);
  } catch (err) {
    errorEl.textContent = err.message;
    errorEl.hidden = false;
    $('signin-password').value = '';
    $('signin-password').focus();
  } finally {
    busy(button, false);
  }
}

async function onSignOut() {
  const button = $('signout-button');
  busy(button, true);
  try {
    await api('/staff/api/logout', { method: 'POST', json: {}, signin: true });
  } catch {
    // The session is forgotten in this page either way.
  } finally {
    busy(button, false);
  }
  showSignIn('サインアウトしました。');
  announce('サインアウトしました。');
}

/** Where the console keeps a user's last inquiry municipality. */
const inquiryKey = (user) => `madoguchi.staff.inquiry-municipality.${user.name}`;

/**
 * The inquiry search starts in the municipality the user last chose, or else the one they work
 * for (`madoguchi user municipality`), so that staff do not read a national answer to a
 * resident of a town that differs.
 */
function defaultInquiryMunicipality(user) {
  const select = $('inquiry-municipality');
  const known = new Set([...select.options].map((o) => o.value));
  let remembered = null;
  try { remembered = localStorage.getItem(inquiryKey(user)); } catch { /* storage off */ }
  const wanted = remembered !== null && known.has(remembered) ? remembered : (user.municipality || '');
  select.value = known.has(wanted) ? wanted : '';
}

function enterConsole(user) {
  state.user = user;
  officeDays(user.office);
  state.loaded.clear();
  $('user-label').textContent = `${user.name}（${ROLES[user.role] || user.role}）`;
  const admin = user.role === 'admin';
  $('tab-faq').hidden = !admin;
  if (!admin) $('panel-faq').hidden = true;
  show('console');
  const wanted = (location.hash || '').slice(1);
  const tab = document.getElementById(`tab-${wanted}`);
  selectTab(tab && !tab.hidden ? wanted : 'inquiry', { focus: false });
  document.title = '窓口 職員コンソール';
  if (!tab || tab.hidden || wanted === 'inquiry') $('inquiry-q').focus();
  defaultInquiryMunicipality(user);
}

/** Clears everything shown for the previous user. */
function resetConsole() {
  for (const id of ['inquiry-results', 'logs-results', 'unanswered-results', 'stats-results', 'faq-results']) {
    clear($(id));
  }
  clear($('users-results')).append(
    el('button', { type: 'button', class: 'btn btn-secondary', id: 'users-load', onclick: loadUsers }, 'アカウント一覧を表示'),
  );
  $('inquiry-form').reset();
  $('faq-form').reset();
  $('faq-apply').disabled = true;
  preview = null;
}

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs pattern: arrow keys, Home/End, automatic activation)

const TABS = ['inquiry', 'logs', 'unanswered', 'stats', 'faq'];

function visibleTabs() {
  return TABS.map((t) => $(`tab-${t}`)).filter((b) => !b.hidden);
}

function selectTab(name, { focus = true } = {}) {
  for (const t of TABS) {
    const on = t === name;
    const tab = $(`tab-${t}`);
    tab.setAttribute('aria-selected', on ? 'true' : 'false');
    tab.tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on || tab.hidden;
  }
  if (focus) $(`tab-${name}`).focus();
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  if (!state.loaded.has(name)) {
    state.loaded.add(name);
    onFirstShow(name);
  }
}

function onTabKey(event) {
  const tabs = visibleTabs();
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  let j = null;
  if (event.key === 'ArrowRight') j = (i + 1) % tabs.length;
  else if (event.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
  else if (event.key === 'Home') j = 0;
  else if (event.key === 'End') j = tabs.length - 1;
  if (j === null) return;
  event.preventDefault();
  selectTab(tabs[j].id.slice(4));
}

function onFirstShow(name) {
  if (name === 'logs') {
    loadCategories();
    loadLogs();
  } else if (name === 'unanswered') loadUnanswered();
  else if (name === 'stats') loadStats();
}

// ---------------------------------------------------------------------------------------------
// Municipalities: GET /api/municipalities, from each faq/municipalities/<code>/municipality.yaml
// (declared with `madoguchi municipality add`).

async function loadMunicipalities() {
  try {
    const res = await fetch('/api/municipalities', { credentials: 'same-origin' });
    if (res.ok) {
      const list = (await res.json()).municipalities;
      state.municipalities = (Array.isArray(list) ? list : [])
        .filter((m) => m && /^[0-9]{6}$/.test(m.code) && typeof m.name === 'string')
        .map((m) => ({ code: m.code, name: m.name }));
    }
  } catch {
    state.municipalities = [];
  }
  for (const select of document.querySelectorAll('select[data-municipality-select]')) {
    const kind = select.dataset.municipalitySelect;
    clear(select);
    if (kind === 'all') select.append(el('option', { value: '' }, 'すべて'));
    else select.append(el('option', { value: '' }, '全国共通（指定なし）'));
    for (const m of state.municipalities) {
      select.append(el('option', { value: m.code }, `${m.name}（${m.code}）`));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 問い合わせ対応

async function onInquiry(event) {
  event.preventDefault();
  const out = $('inquiry-results');
  const q = $('inquiry-q').value.trim();
  if (!q) {
    clear(out).append(errorBox('質問を入力してください。'));
    $('inquiry-q').focus();
    return;
  }
  const params = new URLSearchParams({ q, k: $('inquiry-k').value });
  const m = $('inquiry-municipality').value;
  if (m) params.set('municipality', m);
  const button = event.submitter || $('inquiry-form').querySelector('button[type=submit]');
  busy(button, true);
  clear(out).append(el('p', { class: 'loading' }, '検索しています…'));
  try {
    const r = await api(`/staff/api/search?${params}`);
    renderInquiry(out, r, q);
  } catch (err) {
    showError(out, err);
  } finally {
    busy(button, false);
  }
}

function renderInquiry(out, r, q) {
  clear(out);
  const hits = Array.isArray(r.hits) ? r.hits : [];
  const decision = r.decision || 'fallback';
  out.append(
    el('div', { class: `summary decision-${decision}` },
      el('p', {},
        el('span', { class: `badge badge-${decision}` }, DECISIONS[decision] || decision),
        ' ',
        DECISION_HINTS[decision] || '',
      ),
      el('p', { class: 'muted' }, `候補 ${hits.length}件`),
    ),
  );
  if (!hits.length) {
    out.append(emptyBox('候補が見つかりませんでした。言い方を変えるか、担当課に確認してください。'));
    announce('候補が見つかりませんでした。');
    return;
  }
  const list = el('ol', { class: 'candidates' });
  hits.forEach((h, i) => list.append(candidate(h, i)));
  out.append(list);
  applyBarWidths(list);
  announce(`候補が${hits.length}件見つかりました。`);
}

function candidate(hit, i) {
  const e = hit.entry || {};
  const headingId = `cand-${i}-q`;
  const statusId = `cand-${i}-copy`;
  const category = Array.isArray(e.category) ? e.category.join(' › ') : '';
  const contact = e.contact || null;
  const coverage = Math.max(0, Math.min(1, Number(hit.coverage) || 0));

  const meta = el('dl', { class: 'entry-meta' });
  const row = (label, ...value) => meta.append(el('div', {}, el('dt', {}, label), el('dd', {}, ...value)));
  row('出典', e.source_url ? link(e.source_url) : el('span', { class: 'muted' }, '（なし）'));
  row('更新日', e.updated || '（不明）');
  if (contact && (contact.office || contact.phone || contact.url)) {
    row('問い合わせ先',
      contact.office || '',
      contact.phone ? [contact.office ? ' ' : '', '電話 ', contact.phone] : '',
      contact.url ? [' ', link(contact.url, 'ウェブページ')] : '');
  }

  const extra = [];
  if (Array.isArray(e.alt_questions) && e.alt_questions.length) {
    extra.push(el('details', { class: 'alt' },
      el('summary', {}, `言い換え（${e.alt_questions.length}件）`),
      el('ul', {}, e.alt_questions.map((a) => el('li', {}, a))),
    ));
  }

  const copyStatus = el('span', { class: 'copy-status', id: statusId, role: 'status', 'aria-live': 'polite' });
  const copyButton = el('button', {
    type: 'button',
    class: 'btn btn-secondary btn-copy',
    'aria-describedby': headingId,
    onclick: () => copyAnswer(e, copyStatus),
  }, 'コピー');

  return el('li', { class: 'candidate card' },
    el('article', { 'aria-labelledby': headingId },
      el('header', { class: 'candidate-header' },
        el('h2', { id: headingId },
          el('span', { class: 'rank', 'aria-hidden': 'true' }, `${i + 1}`),
          el('span', { class: 'visually-hidden' }, `${i + 1}位: `),
          e.question || '',
        ),
        el('div', { class: 'candidate-figures' },
          el('span', { class: 'figure' }, 'スコア ', el('strong', {}, (Number(hit.score) || 0).toFixed(2))),
          el('span', { class: 'figure' }, '一致度 ', el('strong', {}, pct(coverage)),
            el('span', { class: 'meter', 'aria-hidden': 'true' },
              el('span', { class: 'meter-fill', 'data-w': String(Math.round(coverage * 100)) }))),
        ),
      ),
      el('p', { class: 'entry-tags muted' },
        `ID: ${e.id || ''}`, category ? ` ・ 分類: ${category}` : '', ` ・ 対象: ${municipalityName(e.scope)}`),
      el('div', { class: 'answer' }, richText(e.answer || '')),
      meta,
      extra,
      el('div', { class: 'candidate-actions' }, copyButton, copyStatus),
    ),
  );
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the older way
    }
  }
  const ta = el('textarea', { class: 'clipboard-helper', readonly: true, 'aria-hidden': 'true', tabindex: '-1' });
  ta.value = text;
  document.body.append(ta);
  const active = document.activeElement;
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  if (active && active.focus) active.focus();
  return ok;
}

async function copyAnswer(entry, statusEl) {
  let text = plainText(entry.answer || '').trim();
  if (entry.source_url && safeUrl(entry.source_url)) text += `\n\n出典: ${entry.source_url}`;
  const ok = await copyText(text);
  statusEl.textContent = '';
  statusEl.dataset.kind = ok ? 'ok' : 'error';
  statusEl.textContent = ok ? 'コピーしました' : 'コピーできませんでした。回答を選んで Ctrl+C でコピーしてください。';
  setTimeout(() => {
    if (statusEl.isConnected) statusEl.textContent = '';
  }, 6000);
}

// ---------------------------------------------------------------------------------------------
// ログ

function logParams(format) {
  const p = new URLSearchParams();
  for (const [key, id] of [['from', 'logs-from'], ['to', 'logs-to'], ['decision', 'logs-decision'],
    ['municipality', 'logs-municipality'], ['category', 'logs-category'], ['limit', 'logs-limit']]) {
    const v = $(id).value;
    if (v) p.set(key, v);
  }
  if (format) p.set('format', format);
  return p;
}

function updateDownloadLinks() {
  $('logs-csv').href = `/staff/api/logs?${logParams('csv')}`;
  $('logs-jsonl').href = `/staff/api/logs?${logParams('jsonl')}`;
}

async function loadCategories() {
  const select = $('logs-category');
  const keep = select.value;
  const m = $('logs-municipality').value;
  try {
    const r = await api(`/api/categories${m ? `?municipality=${encodeURIComponent(m)}` : ''}`);
    clear(select).append(el('option', { value: '' }, 'すべて'));
    for (const c of r.categories || []) {
      if (typeof c.name === 'string') select.append(el('option', { value: c.name }, c.name));
    }
    select.value = [...select.options].some((o) => o.value === keep) ? keep : '';
  } catch {
    // Without the list the filter still offers "すべて".
  }
  updateDownloadLinks();
}

async function loadLogs(event) {
  if (event) event.preventDefault();
  const out = $('logs-results');
  const from = $('logs-from').value;
  const to = $('logs-to').value;
  if (!from || !to) {
    clear(out).append(errorBox('開始日と終了日を入力してください。'));
    return;
  }
  if (from > to) {
    clear(out).append(errorBox('開始日は終了日より前の日付にしてください。'));
    return;
  }
  updateDownloadLinks();
  const button = $('logs-form').querySelector('button[type=submit]');
  busy(button, true);
  clear(out).append(el('p', { class: 'loading' }, '読み込み中…'));
  try {
    const r = await api(`/staff/api/logs?${logParams()}`);
    renderLogs(out, Array.isArray(r.rows) ? r.rows : []);
  } catch (err) {
    showError(out, err);
  } finally {
    busy(button, false);
  }
}

function renderLogs(out, rows) {
  clear(out);
  if (!rows.length) {
    out.append(emptyBox('条件に合うログはありません。'));
    announce('条件に合うログはありません。');
    return;
  }
  const limit = Number($('logs-limit').value);
  const caption = `ログ ${num(rows.length)}件${rows.length >= limit ? `（最大件数 ${num(limit)}件で打ち切り）` : ''}`;
  const table = el('table', { class: 'data-table logs-table' },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {},
      ['日時', '市区町村', '質問（マスク済み）', '判定', '回答FAQ', '一致度', '役に立った', '役に立たなかった', 'コメント']
        .map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {},
      el('td', { class: 'nowrap' }, el('time', { datetime: r.created_at }, dateTime(r.created_at))),
      el('td', { class: 'nowrap' }, r.municipality ? municipalityName(r.municipality) : '—'),
      el('td', { class: 'question-cell' }, r.question || ''),
      el('td', {}, el('span', { class: `badge badge-${r.decision}` }, DECISIONS[r.decision] || r.decision || '')),
      el('td', { class: 'nowrap' }, r.faq_id ? el('code', {}, r.faq_id) : '—'),
      el('td', { class: 'num' }, pct(r.coverage)),
      el('td', { class: 'num' }, num(r.helpful)),
      el('td', { class: 'num' }, num(r.not_helpful)),
      el('td', { class: 'question-cell' }, r.comments || ''),
    ))),
  );
  out.append(el('div', { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: '0' }, table));
  announce(`${caption}を表示しました。`);
}

// ---------------------------------------------------------------------------------------------
// 未解決の質問

let unansweredGroups = [];

async function loadUnanswered(event) {
  if (event) event.preventDefault();
  const out = $('unanswered-results');
  const button = $('unanswered-form').querySelector('button[type=submit]');
  busy(button, true);
  clear(out).append(el('p', { class: 'loading' }, '読み込み中…'));
  try {
    const r = await api(`/staff/api/unanswered?days=${encodeURIComponent($('unanswered-days').value)}`);
    unansweredGroups = Array.isArray(r.groups) ? r.groups : [];
    renderUnanswered();
  } catch (err) {
    showError(out, err);
  } finally {
    busy(button, false);
  }
}

function renderUnanswered() {
  const out = clear($('unanswered-results'));
  const filter = $('unanswered-status').value;
  const shown = unansweredGroups.filter((g) => !filter || g.status === filter);
  const counts = Object.fromEntries(Object.keys(STATUSES).map((s) => [s, unansweredGroups.filter((g) => g.status === s).length]));
  out.append(el('p', { class: 'muted' },
    `全 ${num(unansweredGroups.length)} グループ（未対応 ${counts.open}・FAQ追加済み ${counts.faq_added}・対応不要 ${counts.ignored}）`));
  if (!shown.length) {
    out.append(emptyBox(filter ? `「${STATUSES[filter]}」の質問はありません。` : '未解決の質問はありません。'));
    announce('未解決の質問はありません。');
    return;
  }
  out.append(el('ul', { class: 'groups' }, shown.map((g, i) => groupItem(g, i))));
  announce(`未解決の質問 ${shown.length}グループを表示しました。`);
}

function groupItem(g, i) {
  const headingId = `group-${i}`;
  const examples = Array.isArray(g.examples) ? g.examples : [];
  const li = el('li', { class: 'group card', 'data-status': g.status });
  const actions = el('div', { class: 'group-actions', role: 'group', 'aria-labelledby': headingId });
  for (const [status, label] of [['faq_added', 'FAQ追加済み'], ['ignored', '対応不要'], ['open', '未対応に戻す']]) {
    if (status === g.status) continue;
    actions.append(el('button', {
      type: 'button',
      class: status === 'faq_added' ? 'btn btn-primary' : 'btn btn-secondary',
      onclick: (ev) => markGroup(g, status, li, ev.currentTarget),
    }, label));
  }
  append(li, [
    el('div', { class: 'group-header' },
      el('h2', { id: headingId }, examples[0] || g.key || ''),
      el('span', { class: `badge badge-status-${g.status}`, 'data-role': 'status' }, STATUSES[g.status] || g.status),
    ),
    examples.length > 1
      ? el('div', { class: 'group-examples' }, el('p', { class: 'muted' }, 'ほかの言い方:'),
        el('ul', {}, examples.slice(1).map((x) => el('li', {}, x))))
      : null,
    el('p', { class: 'muted' },
      `${num(g.count)}件`,
      g.not_helpful ? ` ・ 役に立たなかった ${num(g.not_helpful)}件` : '',
      g.last_at ? [' ・ 最後: ', el('time', { datetime: g.last_at }, dateTime(g.last_at))] : ''),
    actions,
  ]);
  return li;
}

async function markGroup(g, status, li, button) {
  busy(button, true);
  try {
    await api('/staff/api/unanswered/mark', { method: 'POST', json: { key: g.key, status } });
    g.status = status;
    const i = unansweredGroups.indexOf(g);
    const fresh = groupItem(g, i >= 0 ? i : Date.now());
    li.replaceWith(fresh);
    const first = fresh.querySelector('.group-actions button');
    if (first) first.focus();
    announce(`「${(g.examples && g.examples[0]) || g.key}」を「${STATUSES[status]}」にしました。`);
  } catch (err) {
    busy(button, false);
    if (!err.handled) {
      li.querySelector('.notice-error')?.remove();
      li.append(errorBox(err.message));
      announce(err.message, 'error');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 集計

async function loadStats(event) {
  if (event) event.preventDefault();
  const out = $('stats-results');
  const button = $('stats-form').querySelector('button[type=submit]');
  busy(button, true);
  clear(out).append(el('p', { class: 'loading' }, '読み込み中…'));
  try {
    const p = new URLSearchParams({ days: $('stats-days').value });
    if ($('stats-municipality').value) p.set('municipality', $('stats-municipality').value);
    const r = await api(`/staff/api/stats?${p}`);
    renderStats(out, r);
  } catch (err) {
    showError(out, err);
  } finally {
    busy(button, false);
  }
}

function fillDays(perDay) {
  if (!perDay.length) return [];
  const byDate = new Map(perDay.map((d) => [d.date, d]));
  const out = [];
  const start = new Date(`${perDay[0].date}T00:00:00Z`);
  const end = new Date(`${perDay[perDay.length - 1].date}T00:00:00Z`);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) return perDay;
  for (let d = start; d <= end && out.length < 400; d = new Date(d.getTime() + 86400000)) {
    const key = isoDay(d);
    out.push(byDate.get(key) || { date: key, questions: 0, answer: 0, candidates: 0, fallback: 0, small_talk: 0 });
  }
  return out;
}

function renderStats(out, r) {
  clear(out);
  const total = Number(r.questions) || 0;
  const rates = r.rates || {};
  const figure = (label, value, sub, cls = '') =>
    el('div', { class: `stat ${cls}` }, el('dt', {}, label), el('dd', {}, el('span', { class: 'stat-value' }, value), sub ? el('span', { class: 'stat-sub' }, sub) : null));
  const n = (rate) => `${num(Math.round((Number(rate) || 0) * total))}件`;
  const where = r.municipality ? `${municipalityName(r.municipality)}・` : '';
  const opened = r.opened || {};
  out.append(el('section', { class: 'card', 'aria-labelledby': 'stats-totals' },
    el('h2', { id: 'stats-totals' }, `${where}直近${$('stats-days').value}日の概要`),
    el('dl', { class: 'stats-grid' },
      figure('質問数', `${num(total)}件`, '', 'stat-total'),
      figure('解決率', pct(total ? rates.resolved : 0), `${n(rates.resolved)}（回答と、候補から選ばれた質問。👎を除く）`, 'stat-resolved'),
      figure('回答率', pct(total ? rates.answer : 0), n(rates.answer), 'stat-answer'),
      figure('候補から選択', pct(total ? rates.candidates_opened : 0), n(rates.candidates_opened)),
      figure('候補提示', pct(total ? rates.candidates : 0), n(rates.candidates), 'stat-candidates'),
      figure('回答なし', pct(total ? rates.fallback : 0), n(rates.fallback), 'stat-fallback'),
      figure('雑談', pct(total ? rates.small_talk : 0), n(rates.small_talk)),
      figure('分類・関連・よくある質問から開かれたFAQ', `${num((Number(opened.menu) || 0) + (Number(opened.related) || 0) + (Number(opened.popular) || 0))}件`,
        `分類 ${num(opened.menu || 0)}件・関連 ${num(opened.related || 0)}件・よくある質問 ${num(opened.popular || 0)}件`, 'stat-opened'),
    ),
  ));

  const days = fillDays(Array.isArray(r.per_day) ? r.per_day : []);
  const max = Math.max(1, ...days.map((d) => Number(d.questions) || 0));
  const chart = el('section', { class: 'card', 'aria-labelledby': 'stats-days-heading' },
    el('h2', { id: 'stats-days-heading' }, '日ごとの質問数'),
    el('p', { class: 'legend muted', 'aria-hidden': 'true' },
      el('span', { class: 'swatch swatch-answer' }), '回答 ',
      el('span', { class: 'swatch swatch-candidates' }), '候補提示 ',
      el('span', { class: 'swatch swatch-fallback' }), '回答なし'),
  );
  if (!days.length) {
    chart.append(emptyBox('この期間の質問はありません。'));
  } else {
    const table = el('table', { class: 'data-table bar-table' },
      el('caption', { class: 'visually-hidden' }, '日ごとの質問数（日付は庁舎の時刻帯）'),
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col' }, '日付'), el('th', { scope: 'col' }, 'グラフ'), el('th', { scope: 'col' }, '質問数'),
        el('th', { scope: 'col' }, '回答'), el('th', { scope: 'col' }, '候補提示'), el('th', { scope: 'col' }, '回答なし'))),
      el('tbody', {}, days.map((d) => {
        const seg = (k) => {
          const w = ((Number(d[k]) || 0) / max) * 100;
          return w > 0 ? el('span', { class: `bar bar-${k}`, 'data-w': w.toFixed(2) }) : null;
        };
        return el('tr', {},
          el('th', { scope: 'row', class: 'nowrap' }, d.date),
          el('td', { class: 'bar-cell', 'aria-hidden': 'true' }, el('span', { class: 'bar-track' }, seg('answer'), seg('candidates'), seg('fallback'))),
          el('td', { class: 'num' }, num(d.questions)),
          el('td', { class: 'num' }, num(d.answer)),
          el('td', { class: 'num' }, num(d.candidates)),
          el('td', { class: 'num' }, num(d.fallback)),
        );
      })),
    );
    chart.append(el('div', { class: 'table-wrap', role: 'region', 'aria-label': '日ごとの質問数の表', tabindex: '0' }, table));
  }
  out.append(chart);

  const simple = (id, title, headers, rows, empty) => {
    const s = el('section', { class: 'card', 'aria-labelledby': id }, el('h2', { id }, title));
    if (!rows.length) s.append(emptyBox(empty));
    else {
      s.append(el('table', { class: 'data-table' },
        el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c, i) =>
          i === 0 ? el('th', { scope: 'row' }, c) : el('td', { class: 'num' }, c)))))));
    }
    return s;
  };
  out.append(el('div', { class: 'two-columns' },
    simple('stats-categories', 'よく聞かれる大分類', ['大分類', '回答・選択数'],
      (r.top_categories || []).map((c) => [c.category, num(c.count)]), 'まだありません。'),
    simple('stats-opened', '候補・分類・関連から多く開かれたFAQ', ['FAQ ID', '開かれた回数'],
      (r.most_opened || []).map((c) => [el('code', {}, c.faq_id), num(c.count)]), 'まだありません。'),
    simple('stats-down', '「役に立たなかった」が多いFAQ', ['FAQ ID', '役に立たなかった'],
      (r.most_not_helpful || []).map((c) => [el('code', {}, c.faq_id), num(c.count)]), 'まだありません。'),
  ));
  applyBarWidths(out);
  announce(`集計を表示しました。質問数 ${num(total)}件。`);
}

/** Widths set through CSSOM (inline style attributes are blocked by the page's CSP). */
function applyBarWidths(root) {
  for (const b of root.querySelectorAll('[data-w]')) b.style.width = `${b.dataset.w}%`;
}

// ---------------------------------------------------------------------------------------------
// FAQ管理 (administrators)

let preview = null; // {key, diff} of the last successful preview

const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;
const EXT_RE = /\.(csv|xlsx|ya?ml|jsonl?)$/i;

function suggestName(file) {
  if (!file) return '';
  if (NAME_RE.test(file.name) && EXT_RE.test(file.name) && file.name !== 'synonyms.csv') return file.name;
  const ext = (file.name.match(EXT_RE) || ['.csv'])[0].toLowerCase();
  const d = new Date();
  const stamp = `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
  return `upload-${stamp}${ext}`;
}

function faqTarget() {
  const file = $('faq-file').files[0] || null;
  const name = $('faq-name').value.trim();
  const municipality = $('faq-target').value;
  const replace = $('faq-replace').checked;
  return { file, name, municipality, replace, key: file ? `${file.name}|${file.size}|${file.lastModified}|${name}|${municipality}|${replace}` : '' };
}

function faqProblem(t) {
  if (!t.file) return ['ファイルを選んでください。', 'faq-file'];
  if (t.file.size === 0) return ['ファイルが空です。', 'faq-file'];
  if (t.file.size > 10 * 1024 * 1024) return ['ファイルが大きすぎます（10MBまで）。', 'faq-file'];
  if (!NAME_RE.test(t.name) || !EXT_RE.test(t.name)) {
    return ['保存するファイル名は半角英数字と . _ - だけにし、拡張子を .csv .xlsx .yaml .yml .json .jsonl のいずれかにしてください。', 'faq-name'];
  }
  return null;
}

function faqQuery(t) {
  const p = new URLSearchParams({ file: t.name });
  if (t.municipality) p.set('municipality', t.municipality);
  if (t.replace) p.set('replace', 'true');
  return p;
}

function resetPreview() {
  preview = null;
  $('faq-apply').disabled = true;
}

function idList(title, ids, open) {
  if (!ids.length) return null;
  return el('details', { class: 'id-list', open: open || null },
    el('summary', {}, `${title}の項目（${ids.length}件）`),
    el('ul', {}, ids.map((id) => el('li', {}, el('code', {}, id)))));
}

/** What each kind of change means to a resident, in the order they are listed. */
const CHANGE_KINDS = [
  ['added', '追加', '新しい項目'],
  ['overridden', '上書き', '全国共通FAQのかわりに、この市区町村の内容を表示します'],
  ['changed', '変更', '内容が変わります'],
  ['hidden', '非表示', 'この市区町村の住民には表示しなくなります'],
  ['unhidden', '再表示', '非表示をやめ、全国共通FAQをまた表示します'],
  ['override_removed', '上書きの解除', 'この市区町村の内容をやめ、全国共通FAQを表示します'],
  ['removed', '削除', '住民に表示されなくなります'],
];
const FIELD_NAMES = {
  question: '質問', alt_questions: '言い換え', answer: '回答', category: '分類', tags: 'タグ',
  source_url: '出典URL', updated: '更新日', contact: '問い合わせ先', hidden: '非表示',
};

/** One entry's text as the preview shows it (question and answer, the answer shortened). */
function entryText(e) {
  if (!e) return el('p', { class: 'muted' }, '（なし）');
  const answer = String(e.answer || '');
  return el('div', { class: 'entry-text' },
    el('p', { class: 'entry-q' }, e.question || (e.hidden ? '（非表示の指定）' : '')),
    answer ? el('p', { class: 'entry-a' }, answer.length > 400 ? `${answer.slice(0, 400)}…` : answer) : null);
}

/** Every change of a preview, grouped by kind, with the text before and after. */
function changeList(items) {
  const groups = CHANGE_KINDS.map(([kind, label, meaning]) => [label, meaning, items.filter((c) => c.kind === kind)])
    .filter(([, , list]) => list.length);
  if (!groups.length) return null;
  return el('div', { class: 'change-list' }, groups.map(([label, meaning, list]) =>
    el('details', { class: 'id-list', open: list.length <= 20 || null, 'data-kind': list[0].kind },
      el('summary', {}, `${label}（${list.length}件）— ${meaning}`),
      el('ul', {}, list.slice(0, 200).map((c) => el('li', {},
        el('p', {}, el('code', {}, c.id), c.scope !== 'national' ? ` ・ ${municipalityName(c.scope)}` : ' ・ 全国共通',
          (c.fields || []).length ? ` ・ 変わる項目：${c.fields.map((f) => FIELD_NAMES[f] || f).join('、')}` : ''),
        (c.before && c.after)
          ? el('div', { class: 'before-after' },
            el('div', {}, el('p', { class: 'sub' }, '変更前'), entryText(c.before)),
            el('div', {}, el('p', { class: 'sub' }, '変更後'), entryText(c.after)))
          : entryText(c.after || c.before)))),
      list.length > 200 ? el('p', { class: 'muted' }, `ほか${list.length - 200}件`) : null)));
}

function renderDiff(out, r, applied) {
  const d = r.diff || {};
  const added = d.added || [];
  const changed = d.changed || [];
  const removed = d.removed || [];
  const items = d.items || [];
  const count = (...kinds) => items.filter((c) => kinds.includes(c.kind)).length;
  const title = applied ? '反映しました' : '確認結果（まだ反映していません）';
  const box = el('section', { class: `card diff ${applied ? 'diff-applied' : ''}`, 'aria-labelledby': 'faq-diff-heading' },
    el('h2', { id: 'faq-diff-heading', tabindex: '-1' }, title),
    el('p', {}, '保存先: ', el('code', {}, r.path || '')),
    el('dl', { class: 'stats-grid' },
      el('div', { class: 'stat stat-answer' }, el('dt', {}, '追加'), el('dd', {}, el('span', { class: 'stat-value', 'data-diff': 'added' }, `${count('added')}件`))),
      el('div', { class: 'stat stat-answer' }, el('dt', {}, '上書き'), el('dd', {}, el('span', { class: 'stat-value', 'data-diff': 'overridden' }, `${count('overridden')}件`))),
      el('div', { class: 'stat stat-candidates' }, el('dt', {}, '変更'), el('dd', {}, el('span', { class: 'stat-value', 'data-diff': 'changed' }, `${count('changed')}件`))),
      el('div', { class: 'stat stat-candidates' }, el('dt', {}, '非表示・再表示'), el('dd', {}, el('span', { class: 'stat-value', 'data-diff': 'hidden' }, `${count('hidden', 'unhidden')}件`))),
      el('div', { class: 'stat stat-fallback' }, el('dt', {}, '削除・上書きの解除'), el('dd', {}, el('span', { class: 'stat-value', 'data-diff': 'removed' }, `${count('removed', 'override_removed')}件`))),
      el('div', { class: 'stat stat-total' }, el('dt', {}, '反映後のFAQ全体の項目数'), el('dd', {}, el('span', { class: 'stat-value' }, `${num(d.total)}件`))),
    ),
    changeList(d.items || []),
  );
  if ((r.replaces || []).length) {
    box.append(el('p', { class: 'notice notice-info' }, `このファイルで置き換えるため、次のファイルは削除されます：${r.replaces.join('、')}`));
  }
  if (!applied && !added.length && !changed.length && !removed.length) {
    box.append(el('p', { class: 'notice notice-info' }, 'このファイルを反映しても、FAQの内容は変わりません。'));
  }
  // Entries residents will no longer find (a hide marker or an override removed brings the
  // national entry back, which needs no confirmation).
  const gone = count('removed');
  if (!applied && gone) {
    const cb = el('input', { type: 'checkbox', id: 'faq-confirm-remove' });
    cb.addEventListener('change', () => {
      $('faq-apply').disabled = !cb.checked;
    });
    box.append(el('div', { class: 'notice notice-warn' },
      el('p', {}, `反映すると ${gone}件の項目が住民に表示されなくなります。`),
      el('div', { class: 'check' }, cb, el('label', { for: 'faq-confirm-remove' }, '削除される項目を確認しました'))));
  }
  clear(out).append(box);
}

/** A problem where the editor will look for it: the uploaded file's row, or another file. */
function problemItem(p, uploadName) {
  if (typeof p === 'string') return el('li', {}, el('code', {}, p));
  const where = p.uploaded ? `アップロードしたファイル（${uploadName}）` : (p.file || '');
  const row = p.row ? ` ${p.row}行目` : '';
  return el('li', {}, el('strong', {}, `${where}${row}`), '：', p.message_ja || p.message || '');
}

function renderProblems(out, err, applied) {
  const body = err.body || {};
  const problems = Array.isArray(body.found) ? body.found : (Array.isArray(body.problems) ? body.problems : []);
  const box = el('section', { class: 'card problems', 'aria-labelledby': 'faq-problems-heading' },
    el('h2', { id: 'faq-problems-heading', tabindex: '-1' }, applied ? '反映できませんでした' : `問題が見つかりました（${problems.length}件）`),
    el('p', { role: 'alert' }, err.message),
  );
  if (problems.length) {
    const name = ($('faq-file').files[0] || {}).name || '';
    box.append(el('p', { class: 'muted' }, '行番号は、Excelで開いたときの行番号（見出しが1行目）です。ファイルを直してから、もう一度「確認」してください。'));
    box.append(el('ul', { class: 'problem-list' }, problems.map((p) => problemItem(p, name))));
  }
  clear(out).append(box);
}

async function onFaqPreview(event) {
  event.preventDefault();
  const out = $('faq-results');
  resetPreview();
  const t = faqTarget();
  const problem = faqProblem(t);
  if (problem) {
    clear(out).append(errorBox(problem[0]));
    $(problem[1]).focus();
    return;
  }
  const button = $('faq-preview');
  busy(button, true);
  clear(out).append(el('p', { class: 'loading' }, '確認しています…'));
  try {
    const r = await api(`/staff/api/faq/preview?${faqQuery(t)}`, { method: 'POST', body: t.file });
    preview = { key: t.key, diff: r.diff };
    renderDiff(out, r, false);
    const d = r.diff || {};
    $('faq-apply').disabled = (d.items || []).some((c) => c.kind === 'removed');
    announce(`確認しました。追加 ${(d.added || []).length}件、変更 ${(d.changed || []).length}件、削除 ${(d.removed || []).length}件。内容がよければ「反映」を押してください。`);
    $('faq-diff-heading').focus();
  } catch (err) {
    if (err.handled) return;
    if (err.status === 422) {
      renderProblems(out, err, false);
      announce(`ファイルに問題が見つかりました（${(err.body?.problems || []).length}件）。`, 'error');
      $('faq-problems-heading').focus();
    } else showError(out, err);
  } finally {
    busy(button, false);
  }
}

async function onFaqApply() {
  const out = $('faq-results');
  const t = faqTarget();
  if (!preview || preview.key !== t.key) {
    resetPreview();
    clear(out).append(errorBox('先に「確認」で内容を確かめてください。'));
    return;
  }
  const button = $('faq-apply');
  busy(button, true);
  let done = false;
  try {
    const r = await api(`/staff/api/faq/apply?${faqQuery(t)}`, { method: 'POST', body: t.file });
    done = true;
    renderDiff(out, r, true);
    const d = r.diff || {};
    announce(`反映しました。追加 ${(d.added || []).length}件、変更 ${(d.changed || []).length}件、削除 ${(d.removed || []).length}件。`);
    $('faq-diff-heading').focus();
    preview = null;
  } catch (err) {
    if (err.handled) return;
    if (err.status === 422) {
      renderProblems(out, err, true);
      announce('反映できませんでした。FAQは変わっていません。', 'error');
      $('faq-problems-heading').focus();
    } else showError(out, err);
  } finally {
    busy(button, false);
    if (done || !preview) button.disabled = true;
  }
}

function faqDownloadUrl() {
  const p = new URLSearchParams();
  const m = $('faq-download-municipality').value;
  if (m) p.set('municipality', m);
  const f = $('faq-download-format').value;
  if (f === 'residents') p.set('view', 'residents');
  else p.set('format', f);
  return `/staff/api/faq/download?${p}`;
}

function updateFaqDownload() {
  $('faq-download').href = faqDownloadUrl();
}

/** Downloads through fetch, so that a refusal (a character Shift_JIS cannot hold) is shown in words. */
async function onFaqDownload(event) {
  event.preventDefault();
  const note = $('faq-download-note');
  clear(note);
  try {
    const res = await fetch(faqDownloadUrl(), { credentials: 'same-origin' });
    if (!res.ok) {
      let body = {};
      try { body = await res.json(); } catch { /* not JSON */ }
      note.append(errorBox(body.message_ja || translate(res.status, body.error || `HTTP ${res.status}`)));
      return;
    }
    const name = (/filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '') || [])[1] || 'madoguchi-faq';
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    note.append(errorBox('ダウンロードできませんでした。通信状況を確認してください。'));
  }
}

async function loadUsers() {
  const out = $('users-results');
  clear(out).append(el('p', { class: 'loading' }, '読み込み中…'));
  try {
    const r = await api('/staff/api/users');
    const users = Array.isArray(r.users) ? r.users : [];
    clear(out).append(el('table', { class: 'data-table' },
      el('caption', { class: 'visually-hidden' }, 'アカウント一覧'),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'ユーザー名'), el('th', { scope: 'col' }, '役割'))),
      el('tbody', {}, users.map((u) => el('tr', {}, el('td', {}, u.name), el('td', {}, ROLES[u.role] || u.role))))),
    el('p', { class: 'help' }, 'アカウントの追加・パスワードの変更はサーバーで madoguchi user コマンドを使います。'));
  } catch (err) {
    showError(out, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Start

function wire() {
  $('signin-form').addEventListener('submit', onSignIn);
  $('signout-button').addEventListener('click', onSignOut);
  $('tablist').addEventListener('keydown', onTabKey);
  for (const t of TABS) $(`tab-${t}`).addEventListener('click', () => selectTab(t));

  $('inquiry-form').addEventListener('submit', onInquiry);
  $('inquiry-q').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      $('inquiry-form').requestSubmit();
    }
  });

  const today = new Date();
  $('logs-to').value = isoDay(today);
  $('logs-from').value = isoDay(new Date(today.getTime() - 30 * 86400000));
  $('logs-form').addEventListener('submit', loadLogs);
  $('logs-form').addEventListener('change', (e) => {
    if (e.target.id === 'logs-municipality') loadCategories();
    updateDownloadLinks();
  });
  updateDownloadLinks();

  $('unanswered-form').addEventListener('submit', loadUnanswered);
  $('unanswered-status').addEventListener('change', renderUnanswered);
  $('stats-form').addEventListener('submit', loadStats);

  $('faq-form').addEventListener('submit', onFaqPreview);
  $('faq-apply').addEventListener('click', onFaqApply);
  $('faq-file').addEventListener('change', () => {
    $('faq-name').value = suggestName($('faq-file').files[0]);
    resetPreview();
    clear($('faq-results'));
  });
  $('faq-target').addEventListener('change', resetPreview);
  $('faq-name').addEventListener('input', resetPreview);
  $('faq-download-municipality').addEventListener('change', updateFaqDownload);
  $('faq-download-format').addEventListener('change', updateFaqDownload);
  $('faq-download').addEventListener('click', onFaqDownload);
  $('faq-replace').addEventListener('change', resetPreview);
  $('users-load').addEventListener('click', loadUsers);
  $('inquiry-municipality').addEventListener('change', (e) => {
    if (!state.user) return;
    try { localStorage.setItem(inquiryKey(state.user), e.target.value); } catch { /* storage off */ }
  });
}

async function start() {
  wire();
  await loadMunicipalities();
  updateDownloadLinks();
  updateFaqDownload();
  let me = null;
  try {
    me = await api('/staff/api/me', { signin: true });
  } catch (err) {
    if (err.status !== 401) {
      showSignIn(err.message);
      return;
    }
  }
  const csrf = sessionStorage.getItem(CSRF_KEY);
  if (me && csrf) {
    state.csrf = csrf;
    enterConsole(me);
  } else if (me) {
    $('signin-name').value = me.name || '';
    showSignIn('続けるには、もう一度サインインしてください。');
  } else {
    showSignIn();
  }
}

start();
