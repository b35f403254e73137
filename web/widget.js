/*!
 * madoguchi（窓口）resident chat widget — Apache-2.0. One file, no dependencies, no build step.
 *
 * Embed with one tag:
 *   <script src="https://HOST/widget.js" data-municipality="999008" defer></script>
 * Attributes: data-municipality (6-digit code; national FAQ only without it), data-api (API base
 * URL; default: the origin this file was loaded from), data-title (panel title).
 * When the host page and the API differ in origin, list the page's origin in server.cors_origins.
 * Everything lives in a shadow root; the only global is window.madoguchiWidget =
 * { open(), close(), ask(text), restart() }. No text from the API or the resident is ever parsed as HTML.
 */
(() => {
  'use strict';
  const W = window, D = document;
  if (W.madoguchiWidget) return;
  const script = D.currentScript ||
    [...D.querySelectorAll('script[src]')].reverse().find((s) => /\/widget\.js([?#]|$)/.test(s.src));
  const ds = (script && script.dataset) || {};
  const MUNI = /^\d{6}$/.test(ds.municipality || '') ? ds.municipality : '';
  const API = (ds.api || new URL(script ? script.src : '/', location.href).origin).replace(/\/+$/, '');
  const TITLE = ds.title || 'よくある質問チャット';
  const SIZES = [1, 1.25, 1.5];
  const KEY = 'madoguchi.fontSize';
  const motion = W.matchMedia && W.matchMedia('(prefers-reduced-motion: reduce)');

  const CSS = `
:host{all:initial!important}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.w{--c:#1f4e8c;--cd:#163a69;--fg:#1c1c1c;--mu:#4d5561;--bg2:#f0f3f7;--ln:#c5cdd8;--hv:#e3ebf6;
font:400 1em/1.7 system-ui,-apple-system,"Hiragino Sans","Hiragino Kaku Gothic ProN","Noto Sans JP","Noto Sans CJK JP",Meiryo,sans-serif;color:var(--fg);text-align:left}
button,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--cd);outline-offset:2px;box-shadow:0 0 0 2px #fff}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
.launch{position:fixed;right:1em;bottom:1em;z-index:2147483000;display:flex;align-items:center;gap:.5em;padding:.7em 1.2em;border:2px solid #fff;border-radius:2em;background:var(--c);color:#fff;font-weight:700;box-shadow:0 .2em .8em rgba(0,0,0,.35)}
.launch:hover{background:var(--cd)}
.launch:focus-visible{box-shadow:0 0 0 2px #fff,0 .2em .8em rgba(0,0,0,.35)}
svg{width:1.5em;height:1.5em;flex:none}
.panel{position:fixed;right:1em;bottom:1em;z-index:2147483001;display:flex;flex-direction:column;width:min(28em,calc(100vw - 2em));height:calc(100vh - 2em);height:min(46em,calc(100dvh - 2em));background:#fff;border:1px solid var(--ln);border-radius:.8em;box-shadow:0 .5em 2em rgba(0,0,0,.3);overflow:hidden;animation:pop .2s ease-out}
.s1{font-size:1.25em}.s2{font-size:1.5em}
@keyframes pop{from{opacity:0;transform:translateY(1em)}}
@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border:0;border-radius:0}}
.hd{display:flex;align-items:center;gap:.2em;padding:.35em .4em .35em 1em;border-bottom:3px solid var(--c)}
h2{flex:1;margin:0;font-size:1.05em;font-weight:700;color:var(--cd)}
.ib{min-width:2.6em;min-height:2.6em;padding:0 .3em;border:1px solid transparent;border-radius:.4em;background:none;color:var(--cd);font-weight:700}
.ib:hover{background:var(--hv)}
.rs{font-size:.85em;font-weight:400;border-color:#5a7399}
.ib[aria-disabled=true]{color:#6b7280;cursor:default}
.ib svg{fill:none;stroke:currentColor;stroke-width:2.5;stroke-linecap:round}
.log{position:relative;flex:1;overflow-y:auto;overscroll-behavior:contain;padding:1em .9em}
.log:focus-visible{outline-offset:-3px}
.m{margin:0 0 1em;padding:.7em .9em;border-radius:.8em;overflow-wrap:anywhere}
.b{background:var(--bg2);border-top-left-radius:.2em}
.u{width:fit-content;max-width:85%;margin-left:auto;background:var(--c);color:#fff;border-top-right-radius:.2em;white-space:pre-wrap}
.m p,.m ul,.m dl{margin:0 0 .6em}.m>:last-child{margin-bottom:0}
h3{margin:0 0 .5em;font-size:1em;font-weight:700;color:var(--cd)}
a{color:#0a4a96;text-decoration:underline}
a:hover{color:var(--cd);text-decoration-thickness:2px}
.warn{padding:.5em .7em;border-left:.3em solid #b45309;background:#fff7e6;color:#4a2c00}
.err{border:2px solid #b42318;background:#fff1f0;color:#7a1109}
.note,.sub,.hint,.n{font-size:.875em;color:var(--mu)}
.sub{margin:.8em 0 .3em!important;font-weight:700}
.cite{font-size:.75em;color:var(--mu)}
ul{padding:0;list-style:none}
li{margin:.35em 0}
.q,.c{display:flex;justify-content:space-between;gap:.5em;width:100%;padding:.5em .75em;border:1px solid #5a7399;border-radius:.5em;background:#fff;color:var(--cd);text-align:left;line-height:1.5}
.q:hover,.c:hover,.lk:hover{background:var(--hv)}
.mh{display:flex;align-items:flex-start;gap:.5em}.mh h3{flex:1}
.lk{padding:.2em .5em;border:1px solid #5a7399;border-radius:.4em;background:#fff;color:var(--cd);font-size:.9em;white-space:nowrap}
.meta{padding-top:.5em;border-top:1px solid var(--ln);font-size:.9em}
.meta div{display:flex;gap:.6em}
dt{flex:none;width:7.5em;font-weight:700;color:var(--mu)}
dd{margin:0;min-width:0}dd>*{display:block}dd li{margin:0}
.fb{margin-top:.7em;padding-top:.6em;border-top:1px solid var(--ln)}
.fb p{margin:0 0 .4em}
.v{margin:0 .4em .4em 0;padding:.35em .8em;border:1px solid #5a7399;border-radius:2em;background:#fff;color:var(--cd)}
.v[aria-pressed=true]{background:var(--c);border-color:var(--c);color:#fff}
.fb label{display:block;margin:.3em 0;font-size:.9em}
textarea{display:block;width:100%;resize:none;padding:.45em .6em;border:2px solid #6b7686;border-radius:.5em;background:#fff;line-height:1.5}
textarea::placeholder{color:#5f6875}
.p{color:var(--mu)}
.st{white-space:pre-wrap}
.p::after{content:'…';animation:blink 1s steps(2) infinite}
@keyframes blink{50%{opacity:0}}
.ft{padding:.5em .9em .7em;border-top:1px solid var(--ln);background:#f8f9fb}
.row{display:flex;gap:.5em;align-items:center}
.row label{flex:1;font-size:.9em;font-weight:700}
.row+.row{margin-top:.3em;align-items:stretch}
.send,.btn{padding:.5em 1em;white-space:nowrap;border:2px solid var(--c);border-radius:.5em;background:var(--c);color:#fff;font-weight:700}
.send:hover,.btn:hover{background:var(--cd)}
.send[aria-disabled=true]{background:#6b7280;border-color:#6b7280}
.hint{margin:.3em 0 0}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}`;

  // --- DOM helpers: text only ever goes in through append() (text nodes) and setAttribute ---
  function h(tag, attrs, ...kids) {
    const el = D.createElement(tag);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids.flat()) if (c != null && c !== false && c !== '') el.append(c);
    return el;
  }
  function icon(d) {
    const NS = 'http://www.w3.org/2000/svg', s = D.createElementNS(NS, 'svg'), p = D.createElementNS(NS, 'path');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    p.setAttribute('d', d);
    s.append(p);
    return s;
  }
  const btn = (cls, label, onclick, attrs) => h('button', { type: 'button', class: cls, onclick, ...attrs }, label);

  /** An http(s) link opening in a new tab, or null for any other scheme or a malformed URL. */
  function link(u, label) {
    let x;
    try { x = new URL(u); } catch (_) { return null; }
    if (x.protocol !== 'https:' && x.protocol !== 'http:') return null;
    return h('a', { href: x.href, target: '_blank', rel: 'noopener noreferrer' },
      label || x.href, h('span', { class: 'sr' }, '（新しいタブで開きます）'));
  }
  const shortUrl = (u) => { try { const x = new URL(u); return x.host + (x.pathname.length > 1 ? x.pathname : ''); } catch (_) { return u; } };
  function date(s) {
    const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(s || '');
    return s ? h('time', { datetime: s }, m ? `${+m[1]}年${+m[2]}月${+m[3]}日` : s) : null;
  }

  // [label](url), [FAQ:id] citations and bare URLs inside one line of answer text.
  const INLINE = /\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|\[FAQ:\s*([\w.-]+)\]|https?:\/\/[\w\-.~:/?#[\]@!$&'()*+,;=%]+/g;
  function inline(el, s, sources) {
    let at = 0;
    for (const m of s.matchAll(INLINE)) {
      el.append(s.slice(at, m.index));
      at = m.index + m[0].length;
      if (m[2]) el.append(link(m[2], m[1]) || m[1]);
      else if (m[3]) {
        const i = (sources || []).findIndex((x) => x.faq_id === m[3]);
        if (i >= 0) el.append(h('sup', { class: 'cite' }, `[${i + 1}]`));
      } else {
        const url = m[0].replace(/[.,;:!?'")\]]+$/, '');
        at -= m[0].length - url.length;
        el.append(link(url) || url);
      }
    }
    el.append(s.slice(at));
  }
  /** Plain text: blank lines separate paragraphs, single line breaks stay line breaks. */
  function paras(text, sources) {
    return String(text || '').replace(/\r\n?/g, '\n').trim().split(/\n[ \t\u3000]*\n\s*/).map((p) => {
      const el = h('p');
      p.split('\n').forEach((line, i) => { if (i) el.append(h('br')); inline(el, line, sources); });
      return el;
    });
  }

  // --- API ---
  class ApiError extends Error {
    constructor(status, message, retry) { super(message); this.status = status; this.retry = retry; }
  }
  async function call(path, params, body) {
    const u = new URL(API + path);
    for (const k in params || {}) if (params[k]) u.searchParams.set(k, params[k]);
    let res;
    try {
      res = await fetch(u, body
        ? { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: body.stream ? 'text/event-stream' : 'application/json' }, body: JSON.stringify(body) }
        : { headers: { Accept: 'application/json' } });
    } catch (e) { throw new ApiError(0, String(e)); }
    if (!res.ok) {
      let msg = '';
      try { msg = (await res.json()).error || ''; } catch (_) { /* not JSON */ }
      throw new ApiError(res.status, msg, parseInt(res.headers.get('Retry-After'), 10) || 0);
    }
    return res;
  }
  const getJson = async (path, params) => (await call(path, { ...params, municipality: MUNI })).json();
  function errText(e) {
    const s = e && e.status;
    if (s === 429) return `ただいま質問が集中しています。${e.retry ? e.retry + '秒ほど' : 'しばらく'}待ってから、もう一度送信してください。`;
    const m = String((e && e.message) || '');
    // The page names a municipality the service has no FAQ for: the site's setting, not the resident's question.
    if ((s === 404 || s === 400) && /unknown municipality|municipality code/.test(m)) return 'このページに設定された市区町村のFAQが見つかりません。お手数ですが、市区町村の窓口にお問い合わせください。（サイト管理者の方へ：data-municipality の設定をご確認ください）';
    if (s === 413 || (s === 400 && /too long/.test(m))) return '送信できませんでした。質問は500文字以内で入力してください。';
    if (s === 400) return `送信できませんでした。質問の内容を確かめて、もう一度お送りください。（${m}）`;
    if (s === -1) return '回答の受信が途中で途切れました。もう一度送信してください。';
    if (s) return `サーバーでエラーが発生しました（${s}）。しばらくしてから、もう一度お試しください。`;
    return 'サーバーに接続できませんでした。通信状況を確認して、しばらくしてからもう一度お試しください。';
  }
  /** Reads server-sent events from a fetch response, calling on(event, data) for each. */
  async function readEvents(res, on) {
    const reader = res.body.getReader(), dec = new TextDecoder();
    let buf = '';
    for (;;) {
      let r;
      try { r = await reader.read(); } catch (e) { throw new ApiError(0, String(e)); }
      buf += dec.decode(r.value || new Uint8Array(), { stream: !r.done });
      let m;
      while ((m = /\r?\n\r?\n/.exec(buf))) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        let ev = 'message';
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          const i = line.indexOf(':');
          if (i === 0) continue;
          const f = i < 0 ? line : line.slice(0, i), v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (f === 'event') ev = v;
          else if (f === 'data') data.push(v);
        }
        if (data.length) on(ev, data.join('\n'));
      }
      if (r.done) return;
    }
  }

  // --- the widget ---
  // epoch counts 「最初から」 restarts: a reply to a message sent before one is dropped.
  let convId = null, busy = false, started = false, size = 0, epoch = 0;
  try { size = Math.min(SIZES.length - 1, Math.max(0, +localStorage.getItem(KEY) || 0)); } catch (_) { /* storage off */ }

  const host = h('div', { 'data-madoguchi-widget': '' });
  const root = host.attachShadow({ mode: 'open' });
  const log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': '会話の履歴', tabindex: '0' });
  const input = h('textarea', { id: 'q', rows: '2', maxlength: '500', placeholder: '例：粗大ごみの出し方', 'aria-describedby': 'hint' });
  const sendBtn = h('button', { type: 'submit', class: 'send' }, '送信');
  // Visible text first, then the words for screen readers (the name contains what is seen).
  const smaller = btn('ib', ['A−', h('span', { class: 'sr' }, '（文字を小さくする）')], () => zoom(-1), { title: '文字を小さくする' });
  const larger = btn('ib', ['A＋', h('span', { class: 'sr' }, '（文字を大きくする）')], () => zoom(1), { title: '文字を大きくする' });
  const panel = h('div', { class: 'panel', id: 'panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'title', hidden: true },
    h('div', { class: 'hd' }, h('h2', { id: 'title' }, TITLE),
      btn('ib rs', '最初から', restart, { 'aria-label': '最初から（会話をやり直す）', title: '会話を最初からやり直す' }),
      smaller, larger,
      btn('ib', icon('M6 6l12 12M18 6L6 18'), close, { 'aria-label': 'チャットを閉じる', title: '閉じる' })),
    log,
    h('form', { class: 'ft', onsubmit: (e) => { e.preventDefault(); send(input.value); } },
      h('div', { class: 'row' }, h('label', { for: 'q' }, 'ご質問を入力してください'),
        btn('lk', '分類から探す', () => menu(true))),
      h('div', { class: 'row' }, input, sendBtn),
      h('p', { id: 'hint', class: 'hint' }, '※個人情報は入力しないでください。')));
  const launcher = btn('launch', [icon('M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2h-9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z'), h('span', {}, 'チャットで質問')],
    open, { 'aria-haspopup': 'dialog', 'aria-expanded': 'false', 'aria-controls': 'panel' });
  // A constructed sheet is not an inline style, so a host page's CSP (style-src) does not block it.
  if (root.adoptedStyleSheets && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else root.append(h('style', {}, CSS));
  root.append(h('div', { class: 'w', lang: 'ja' }, launcher, panel));

  function zoom(d) {
    size = Math.min(SIZES.length - 1, Math.max(0, size + d));
    try { localStorage.setItem(KEY, String(size)); } catch (_) { /* storage off */ }
    const room = () => Math.max(1, log.scrollHeight - log.clientHeight), at = log.scrollTop / room();
    panel.classList.remove('s1', 's2');
    if (size) panel.classList.add('s' + size);
    log.scrollTop = at * room(); // keep the same part of the conversation in view
    smaller.setAttribute('aria-disabled', String(size === 0));
    larger.setAttribute('aria-disabled', String(size === SIZES.length - 1));
  }
  zoom(0);

  function open() {
    if (panel.hidden) {
      panel.hidden = false;
      launcher.hidden = true;
      launcher.setAttribute('aria-expanded', 'true');
      if (!started) { started = true; greet(); }
    }
    input.focus();
  }
  /** 「最初から」: a new conversation. The log is cleared and the next message starts afresh. */
  function restart() {
    epoch++;
    convId = null;
    busy = false;
    sendBtn.removeAttribute('aria-disabled');
    log.replaceChildren();
    greet();
    input.focus();
  }
  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  }
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !e.isComposing) { e.preventDefault(); close(); }
    else if (e.key === 'Tab') trap(e);
  });
  /** Tab and Shift+Tab cycle through the dialog's visible controls. */
  function trap(e) {
    const els = [...panel.querySelectorAll('a[href],button,textarea,[tabindex]')]
      .filter((el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length);
    if (!els.length) return;
    e.preventDefault();
    const a = root.activeElement, n = els.length;
    let i = els.indexOf(a);
    if (i >= 0) return els[(i + (e.shiftKey ? n - 1 : 1)) % n].focus();
    i = a ? els.findIndex((el) => a.compareDocumentPosition(el) & 4) : -1;
    (e.shiftKey ? els[(i < 0 ? n : i) - 1] || els[n - 1] : els[i < 0 ? 0 : i]).focus();
  }
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); send(input.value); }
  });

  function add(el, toTop) {
    log.append(el);
    const top = toTop ? el.offsetTop - 8 : log.scrollHeight;
    log.scrollTo({ top, behavior: motion && motion.matches ? 'auto' : 'smooth' });
    return el;
  }
  const bot = (...kids) => h('div', { class: 'm b' }, h('span', { class: 'sr' }, '案内：'), ...kids);
  const said = (text) => add(h('div', { class: 'm u' }, h('span', { class: 'sr' }, 'あなた：'), text));
  const waiting = () => add(h('div', { class: 'm b', 'aria-hidden': 'true' }, h('p', { class: 'p' }, '回答を探しています')));
  const failed = (e) => add(h('div', { class: 'm err', role: 'alert' }, errText(e)));
  /** Questions to open; `via` (menu, candidate, related) and the question they came from are recorded. */
  const qlist = (items, via, mid) => h('ul', {}, items.map((c) => h('li', {}, btn('q', c.question, () => openFaq(c.faq_id, c.question, via || 'menu', mid)))));
  const menuBtn = () => btn('lk', '分類から探す', () => menu(true));

  function greet() {
    add(bot(
      h('p', {}, 'こんにちは。暮らしの手続きなどについて、よくある質問にお答えします。'),
      h('p', {}, '下の入力欄に短い文で質問を入力するか、分類から選んでください。'),
      h('p', { class: 'warn' }, 'マイナンバーや電話番号、住所などの個人情報は入力しないでください。')));
    menu(false);
  }

  // --- 大分類 → 中分類 → 小分類 → questions, in one card that changes in place ---
  let catsP = null;
  const cats = () => catsP || (catsP = getJson('/api/categories').catch((e) => { catsP = null; throw e; }));
  const leaves = new Map();
  /** The questions filed under `path` (exactly there when `exact`), found through search. */
  function leaf(path, exact) {
    const key = path.join('\n') + (exact ? '\n!' : '');
    if (!leaves.has(key)) {
      leaves.set(key, (async () => {
        const found = new Map();
        for (const q of new Set([path.join(' '), path[path.length - 1]])) {
          for (const x of (await getJson('/api/search', { q, k: 50 })).hits || []) {
            const c = x.category || [];
            if (path.every((p, i) => c[i] === p) && (!exact || c.length === path.length)) found.set(x.faq_id, x);
          }
        }
        return [...found.values()];
      })().catch((e) => { leaves.delete(key); throw e; }));
    }
    return leaves.get(key);
  }
  function menu(focus) {
    const card = add(h('div', { class: 'm b', 'aria-live': 'off' }, h('p', {}, '分類を読み込んでいます…')), focus);
    level(card, [], false, focus);
  }
  async function level(card, path, exact, focus) {
    card.setAttribute('aria-busy', 'true');
    let body;
    try { body = await levelBody(card, path, exact); } catch (e) {
      body = [h('p', {}, '分類を読み込めませんでした。' + errText(e)), btn('lk', 'もう一度読み込む', () => level(card, path, exact, true))];
    }
    card.removeAttribute('aria-busy');
    const head = h('h3', { tabindex: '-1' }, path.length ? path.join(' ＞ ') + (exact ? ' ＞ その他' : '') : '分類から探す');
    const back = path.length ? btn('lk', '← 戻る', () => level(card, exact ? path : path.slice(0, -1), false, true), { 'aria-label': '一つ前の分類に戻る' }) : null;
    card.replaceChildren(h('div', { class: 'mh' }, head, back), ...body.flat(2).filter(Boolean));
    if (focus) head.focus();
  }
  async function levelBody(card, path, exact) {
    const tree = (await cats()).categories || [];
    const choices = (kids, extra) => h('ul', {}, kids.map((k) => h('li', {},
      btn('c', [k.name, h('span', { class: 'n' }, `${k.count}件`)], () => level(card, [...path, k.name], false, true)))), extra);
    if (!path.length) return [h('p', {}, '知りたいことに近い分類を選んでください。'), choices(tree)];
    let node = { children: tree };
    for (const p of path) node = (node.children || []).find((x) => x.name === p) || {};
    const kids = exact ? [] : node.children || [];
    if (kids.length) {
      const rest = (node.count || 0) - kids.reduce((s, k) => s + (k.count || 0), 0);
      return [
        node.starters && node.starters.length && [h('p', { class: 'sub' }, 'よくある質問'), qlist(node.starters)],
        h('p', { class: 'sub' }, 'さらに詳しい分類'),
        choices(kids, rest > 0 && h('li', {}, btn('c', [`その他`, h('span', { class: 'n' }, `${rest}件`)], () => level(card, path, true, true)))),
      ];
    }
    const qs = await leaf(path, exact);
    return [qs.length ? qlist(qs) : h('p', {}, 'この分類の質問が見つかりませんでした。')];
  }

  // --- answers ---
  function meta(a) {
    const dl = h('dl', { class: 'meta' });
    const row = (k, ...v) => { v = v.filter(Boolean); if (v.length) dl.append(h('div', {}, h('dt', {}, k), h('dd', {}, ...v))); };
    const src = a.sources && a.sources.length ? a.sources : [a];
    if (src.length > 1) {
      row('出典', h('ul', {}, src.map((s, i) => h('li', {}, `[${i + 1}] ${s.question || ''} `, link(s.source_url, shortUrl(s.source_url))))));
    } else row('出典', link(src[0].source_url, shortUrl(src[0].source_url)));
    row('更新日', date(a.updated));
    const c = a.contact || {}, tel = (c.phone || '').replace(/[^\d+]/g, '');
    row('お問い合わせ先', c.office && h('span', {}, c.office),
      tel && h('span', {}, '電話：', h('a', { href: 'tel:' + tel }, c.phone)),
      c.url && link(c.url, '担当窓口のページ'));
    return dl.children.length ? dl : null;
  }
  function feedback(messageId) {
    let helpful = null, sending = false;
    const vote = (v) => {
      helpful = v;
      yes.setAttribute('aria-pressed', String(v));
      no.setAttribute('aria-pressed', String(!v));
      form.hidden = false;
      comment.focus();
    };
    const yes = btn('v', [h('span', { 'aria-hidden': 'true' }, '👍 '), '役に立った'], () => vote(true), { 'aria-pressed': 'false' });
    const no = btn('v', [h('span', { 'aria-hidden': 'true' }, '👎 '), '役に立たなかった'], () => vote(false), { 'aria-pressed': 'false' });
    const comment = h('textarea', { rows: '2', maxlength: '1000' });
    const note = h('p', { class: 'hint' });
    const form = h('form', { hidden: true, onsubmit: async (e) => {
      e.preventDefault();
      if (sending || helpful == null) return;
      sending = true;
      const body = { message_id: messageId, helpful };
      if (comment.value.trim()) body.comment = comment.value.trim();
      try {
        await call('/api/feedback', null, body);
        const thanks = h('p', { tabindex: '-1' }, 'ご協力ありがとうございました。いただいたご意見は、FAQの改善に役立てます。');
        box.replaceChildren(thanks);
        thanks.focus();
      } catch (err) {
        note.textContent = '評価を送信できませんでした。' + errText(err);
      }
      sending = false;
    } },
    h('label', {}, 'よろしければ、理由やご意見をお書きください（任意。個人情報は書かないでください）。', comment),
    h('button', { type: 'submit', class: 'btn' }, '評価を送信'), note);
    const box = h('div', { class: 'fb', role: 'group', 'aria-label': '回答の評価' },
      h('p', {}, 'この回答は役に立ちましたか？'), yes, no, form);
    return box;
  }
  function answer(a, r) {
    r = r || {};
    return bot(
      h('h3', { tabindex: '-1' }, a.question),
      r.generated && h('p', { class: 'note' }, 'この回答は、出典のFAQをもとに自動で作成した文章です。'),
      paras(a.text, a.sources), meta(a),
      // Not stored (the database failed): there is nothing to give feedback on.
      r.message_id && r.recorded !== false && feedback(r.message_id),
      r.related && r.related.length && [h('p', { class: 'sub' }, '関連する質問'), qlist(r.related, 'related', r.message_id)]);
  }
  function result(r) {
    if (r.decision === 'small_talk' && r.small_talk) return bot(...paras(r.small_talk.text), menuBtn());
    if (r.decision === 'answer' && r.answer) {
      const m = answer(r.answer, r);
      // Say so when the answer read the message as a follow-up, so that a wrong reading shows.
      if (r.follow_up_of) m.querySelector('h3').after(h('p', { class: 'note' }, `前のご質問（${r.follow_up_of}）の続きとしてお答えしています。`));
      return m;
    }
    if (r.decision === 'candidates' && r.candidates && r.candidates.length) {
      return bot(h('h3', {}, 'もしかして…'), h('p', {}, '近い質問を選んでください。'), qlist(r.candidates, 'candidate', r.message_id), menuBtn());
    }
    const f = r.fallback || {};
    return bot(...paras(f.text || '申し訳ありません。お答えできるFAQが見つかりませんでした。'), meta({ contact: f.contact }), menuBtn());
  }

  async function chat(text, pending, retried) {
    const at = epoch;
    const body = { message: text, stream: true };
    if (convId) body.conversation_id = convId;
    if (MUNI) body.municipality = MUNI;
    let res;
    try { res = await call('/api/chat', null, body); } catch (e) {
      // The conversation is gone (retention, another database): start a new one.
      if (e.status === 404 && convId && !retried) { convId = null; return chat(text, pending, true); }
      throw e;
    }
    let r = null;
    if (!/event-stream/.test(res.headers.get('Content-Type') || '')) r = await res.json();
    else {
      let streamed = '';
      const out = h('p', { class: 'st' });
      await readEvents(res, (ev, data) => {
        const d = JSON.parse(data);
        if (ev === 'delta') {
          streamed += d.text || '';
          out.textContent = streamed.replace(/\[FAQ:[^\]]*\]?/g, '');
          if (!out.isConnected) pending.replaceChildren(out);
          log.scrollTop = log.scrollHeight;
        } else if (ev === 'result') r = d;
        else if (ev === 'error') throw new ApiError(500, d.error || '');
      });
      if (!r) throw new ApiError(-1, 'the stream ended without a result');
    }
    if (at === epoch) convId = r.conversation_id || convId;
    return r;
  }
  async function send(text) {
    text = text.trim();
    if (!text) return input.focus();
    if (busy) return;
    busy = true;
    sendBtn.setAttribute('aria-disabled', 'true');
    const mine = said(text), pending = waiting(), at = epoch;
    try {
      const r = await chat(text, pending);
      if (at !== epoch) return; // restarted meanwhile: the old conversation's reply is not shown
      if (input.value.trim() === text) input.value = '';
      pending.remove();
      add(result(r), true);
    } catch (e) {
      // Keep the typed question in the box so that it can be sent again.
      if (at !== epoch) return;
      pending.remove();
      mine.remove();
      failed(e);
    } finally {
      if (at === epoch) {
        busy = false;
        sendBtn.removeAttribute('aria-disabled');
      }
    }
  }
  /** A question picked from the menu, candidates or related: its entry, without feedback. */
  async function openFaq(id, question, via, mid) {
    said(question);
    const pending = waiting();
    const body = { faq_id: id, via };
    if (mid) body.message_id = mid;
    if (convId) body.conversation_id = convId;
    if (MUNI) body.municipality = MUNI;
    try {
      const e = (await (await call('/api/open', null, body)).json()).entry;
      pending.remove();
      const m = add(answer({ text: e.answer, question: e.question, source_url: e.source_url, updated: e.updated, contact: e.contact }), true);
      m.querySelector('h3').focus({ preventScroll: true });
    } catch (err) {
      pending.remove();
      failed(err);
    }
  }

  function mount() { D.body.append(host); }
  if (D.body) mount(); else D.addEventListener('DOMContentLoaded', mount);
  W.madoguchiWidget = Object.freeze({ open, close, restart, ask: (text) => { open(); input.value = String(text); send(input.value); } });
})();
