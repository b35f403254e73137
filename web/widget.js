/*!
 * madoguchi（窓口）resident chat widget — Apache-2.0. One file, no dependencies, no build step.
 *
 * Embed with one tag:
 *   <script src="https://HOST/widget.js" data-municipality="999008" defer></script>
 * Attributes: data-municipality (6-digit code; national FAQ only without it), data-api (API base
 * URL; default: the origin this file was loaded from), data-title (panel title), data-lang (the
 * widget's language: ja, easy (やさしい日本語), en, zh, ko, vi, pt).
 * The language is, in this order: the one the resident picked (kept for the tab), data-lang, the
 * page's <html lang> when it is not Japanese, the browser's first language the widget speaks, else
 * Japanese; a question the server reads as another language switches to it (unless the resident
 * or data-lang chose). Answers stay the official Japanese text, introduced in that language.
 * The conversation is kept in sessionStorage (the server's masked text only) so that it survives
 * moving between the site's pages; it goes when the tab closes or with 「最初から」.
 * When the host page and the API differ in origin, list the page's origin in server.cors_origins.
 * Everything lives in a shadow root; the only global is window.madoguchiWidget =
 * { open(), close(), ask(text), restart(), lang(code) }. No text from the API or the resident is
 * ever parsed as HTML.
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
  const SIZES = [1, 1.25, 1.5];
  // The conversation is kept per service and municipality (pages of one site share the tab's storage).
  const KEY = 'madoguchi.fontSize', CONV = `madoguchi.chat.${API}.${MUNI || 'national'}`;
  const motion = W.matchMedia && W.matchMedia('(prefers-reduced-motion: reduce)');
  // A touch screen: opening the panel must not raise the on-screen keyboard over the menu.
  const touch = !!(W.matchMedia && W.matchMedia('(pointer: coarse)').matches);

  const CSS = `
:host{all:initial!important}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.w{--c:#1f4e8c;--cd:#163a69;--fg:#1c1c1c;--mu:#4d5561;--bg2:#f0f3f7;--ln:#c5cdd8;--hv:#e3ebf6;
font:400 1em/1.7 system-ui,-apple-system,"Hiragino Sans","Hiragino Kaku Gothic ProN","Noto Sans JP","Noto Sans CJK JP",Meiryo,sans-serif;color:var(--fg);text-align:left}
button,textarea,select{font:inherit;color:inherit;margin:0}
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
@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border:0;border-radius:0}
.s1 .hd,.s1 .ft{font-size:.85em}.s2 .hd,.s2 .ft{font-size:.72em}.s2 .hint{display:none}}
.hd{display:flex;flex-wrap:wrap;align-items:center;gap:.1em .2em;padding:.25em .4em .25em 1em;border-bottom:3px solid var(--c)}
h2{flex:1;margin:0;font-size:1.05em;font-weight:700;color:var(--cd)}
.tb{display:flex;align-items:center;gap:.2em;width:100%;font-size:.85em}
.tb select{margin-right:auto;max-width:11em;padding:.2em .3em;border:1px solid #5a7399;border-radius:.4em;background:#fff;color:var(--cd)}
.ib{min-width:2.6em;min-height:2.6em;padding:0 .3em;border:1px solid transparent;border-radius:.4em;background:none;color:var(--cd);font-weight:700}
.tb .ib{min-height:2.2em}
.ib:hover{background:var(--hv)}
.rs{font-weight:400;border-color:#5a7399}
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
.nt{margin:.4em 0;padding:.5em .7em;border:1px solid #b45309;border-radius:.4em;background:#fff}
.nt strong{display:block}
.err{border:2px solid #b42318;background:#fff1f0;color:#7a1109}
.note,.sub,.hint,.n,.ct{font-size:.875em;color:var(--mu)}
.sub{margin:.8em 0 .3em!important;font-weight:700}
.cite{font-size:.75em;color:var(--mu)}
ul{padding:0;list-style:none}
li{margin:.35em 0}
.q,.c{display:flex;justify-content:space-between;gap:.5em;width:100%;padding:.5em .75em;border:1px solid #5a7399;border-radius:.5em;background:#fff;color:var(--cd);text-align:left;line-height:1.5}
.q:hover,.c:hover,.lk:hover{background:var(--hv)}
.ct{display:block;margin:.15em .2em 0}
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

  // --- the widget's own words (answers stay the official Japanese) ---
  // Japanese and やさしい日本語 are built in; the other languages are small JSON files beside this
  // one (widget-lang/<code>.json), fetched when first needed. {0} stands for a number or a text.
  const LANGS = { ja: '日本語', easy: 'やさしい日本語', en: 'English', zh: '中文（简体）', ko: '한국어', vi: 'Tiếng Việt', pt: 'Português' };
  const HTML_LANG = { easy: 'ja', zh: 'zh-Hans' };
  const T = {
    ja: {
      title: 'よくある質問チャット',
      launch: 'チャットで質問',
      restart: '最初から',
      restartHelp: '会話を最初からやり直す',
      smaller: '文字を小さくする',
      larger: '文字を大きくする',
      close: 'チャットを閉じる',
      lang: '言語',
      log: '会話の履歴',
      input: 'ご質問を入力してください',
      ph: '例：粗大ごみの出し方',
      send: '送信',
      menu: '分類から探す',
      hint: '※個人情報は入力しないでください。',
      you: 'あなた：',
      bot: '案内：',
      wait: '回答を探しています',
      hello: 'こんにちは。暮らしの手続きなどについて、よくある質問にお答えします。',
      howto: '下の入力欄に短い文で質問を入力するか、分類から選んでください。',
      privacy: 'マイナンバーや電話番号、住所などの個人情報は入力しないでください。',
      notices: 'お知らせ',
      popular: 'よくある質問',
      loading: '分類を読み込んでいます…',
      catsFailed: '分類を読み込めませんでした。',
      reload: 'もう一度読み込む',
      pick: '知りたいことに近い分類を選んでください。',
      more: 'さらに詳しい分類',
      other: 'その他',
      n: '{0}件',
      none: 'この分類の質問が見つかりませんでした。',
      back: '← 戻る',
      backHelp: '一つ前の分類に戻る',
      source: '出典',
      updated: '更新日',
      contact: 'お問い合わせ先',
      tel: '電話：',
      page: '担当窓口のページ',
      details: '詳しくはこちら',
      newTab: '（新しいタブで開きます）',
      rate: 'この回答は役に立ちましたか？',
      yes: '役に立った',
      no: '役に立たなかった',
      rateGroup: '回答の評価',
      voted: '評価を受け付けました。ありがとうございます。',
      comment: 'よろしければ、理由やご意見をお書きください（任意。個人情報は書かないでください）。',
      sendComment: 'ご意見を送信',
      thanks: 'ご協力ありがとうございました。いただいたご意見は、FAQの改善に役立てます。',
      fbFailed: '評価を送信できませんでした。',
      generated: 'この回答は、出典のFAQをもとに自動で作成した文章です。',
      official: '',
      related: '関連する質問',
      followUp: '前のご質問（{0}）の続きとしてお答えしています。',
      maybe: 'もしかして…',
      choose: '近い質問を選んでください。',
      fallback: '申し訳ありません。お答えできるFAQが見つかりませんでした。',
      busy: 'ただいま質問が集中しています。しばらく待ってから、もう一度送信してください。',
      busyS: 'ただいま質問が集中しています。{0}秒ほど待ってから、もう一度送信してください。',
      muni: 'このページに設定された市区町村のFAQが見つかりません。お手数ですが、市区町村の窓口にお問い合わせください。（サイト管理者の方へ：data-municipality の設定をご確認ください）',
      tooLong: '送信できませんでした。質問は500文字以内で入力してください。',
      bad: '送信できませんでした。質問の内容を確かめて、もう一度お送りください。（{0}）',
      cut: '回答の受信が途中で途切れました。もう一度送信してください。',
      server: 'サーバーでエラーが発生しました（{0}）。しばらくしてから、もう一度お試しください。',
      offline: 'サーバーに接続できませんでした。通信状況を確認して、しばらくしてからもう一度お試しください。',
    },
    easy: {
      title: 'しつもん チャット',
      launch: 'チャットで きく',
      restart: 'はじめから',
      restartHelp: 'はなしを はじめから する',
      smaller: '字を 小さく する',
      larger: '字を 大きく する',
      close: 'チャットを とじる',
      lang: 'ことば',
      log: 'はなしの きろく',
      input: 'しつもんを 書いて ください',
      ph: 'れい：大きい ごみの 出しかた',
      send: 'おくる',
      menu: 'ぶんるいから さがす',
      hint: '※名前や 電話番号は 書かないで ください。',
      you: 'あなた：',
      bot: 'あんない：',
      wait: 'こたえを さがして います',
      hello: 'こんにちは。くらしの 手続き（てつづき）の しつもんに こたえます。',
      howto: '下に みじかい 文で しつもんを 書くか、ぶんるいから えらんで ください。',
      privacy: 'マイナンバー、電話番号、住所などは 書かないで ください。',
      notices: 'おしらせ',
      popular: 'よく ある しつもん',
      loading: 'ぶんるいを よみこんで います…',
      catsFailed: 'ぶんるいを よみこめませんでした。',
      reload: 'もう一度 よみこむ',
      pick: '知りたい ことに ちかい ぶんるいを えらんで ください。',
      more: 'もっと くわしい ぶんるい',
      other: 'そのほか',
      n: '{0}こ',
      none: 'この ぶんるいには しつもんが ありません。',
      back: '← もどる',
      backHelp: '一つ まえの ぶんるいに もどる',
      source: 'どこの 情報か',
      updated: '新しく した 日',
      contact: 'きく ところ',
      tel: '電話：',
      page: '窓口の ページ',
      details: 'くわしく',
      newTab: '（新しい タブで ひらきます）',
      rate: 'この こたえは やくに たちましたか？',
      yes: 'やくに たった',
      no: 'やくに たたなかった',
      rateGroup: 'こたえの ひょうか',
      voted: 'ありがとう ございます。',
      comment: 'よければ、りゆうを 書いて ください（書かなくても いいです。名前などは 書かないで ください）。',
      sendComment: 'おくる',
      thanks: 'ありがとう ございました。FAQを よく するために つかいます。',
      fbFailed: 'ひょうかを おくれませんでした。',
      generated: 'この こたえは、FAQを もとに コンピューターが 作った 文です。',
      official: '',
      related: 'かんけいの ある しつもん',
      followUp: 'まえの しつもん（{0}）の つづきとして こたえて います。',
      maybe: 'もしかして…',
      choose: 'ちかい しつもんを えらんで ください。',
      fallback: 'ごめんなさい。こたえが 見つかりませんでした。下の 窓口に きいて ください。',
      busy: 'いま しつもんが おおいです。すこし まってから、もう一度 おくって ください。',
      busyS: 'いま しつもんが おおいです。{0}びょう まってから、もう一度 おくって ください。',
      muni: 'この ページの 市区町村の FAQが 見つかりません。市区町村の 窓口に きいて ください。',
      tooLong: 'おくれませんでした。しつもんは 500字までです。',
      bad: 'おくれませんでした。しつもんを たしかめて、もう一度 おくって ください。（{0}）',
      cut: 'こたえが とちゅうで きれました。もう一度 おくって ください。',
      server: 'エラーが おきました（{0}）。すこし まってから、もう一度 ためして ください。',
      offline: 'つながりませんでした。すこし まってから、もう一度 ためして ください。',
    },
  };

  // --- language ---
  /** The widget's code for a language tag (ja-JP → ja, zh-CN → zh, easy), or '' when it has none. */
  const code = (tag) => {
    const c = String(tag || '').toLowerCase();
    if (c === 'easy' || c === 'ja-easy') return 'easy';
    const p = c.split(/[-_]/)[0];
    return LANGS[p] && p !== 'easy' ? p : (p === 'tl' || p === 'ne') ? 'en' : '';
  };
  let chosen = '';
  try { chosen = code(sessionStorage.getItem('madoguchi.lang')); } catch (_) { /* storage off */ }
  const page = code(D.documentElement.lang);
  const wanted = chosen || code(ds.lang) || (page !== 'ja' && page) ||
    (navigator.languages || [navigator.language]).map(code).find(Boolean) || 'ja';
  let lang = 'ja';
  /** Text in the widget's language (Japanese for a word its file lacks), {0} replaced by `a`. */
  const t = (k, a) => String(T[lang][k] ?? T.ja[k]).replace(/\{0\}/g, a);
  const PACKS = new URL('widget-lang/', script && script.src ? script.src : API + '/');
  /** Loads a language's words once. */
  const pack = (c) => T[c] ? Promise.resolve() : fetch(new URL(c + '.json', PACKS))
    .then((r) => { if (!r.ok) throw new Error(r.status); return r.json(); }).then((j) => { T[c] = j; });
  const L = [];
  /** Registers text that follows the language: the element's text, or its attribute `attr`. */
  const tx = (el, key, attr) => { L.push([el, key, attr]); return el; };

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
  const ja = (text) => h('span', { lang: 'ja' }, text);

  /** An http(s) link opening in a new tab, or null for any other scheme or a malformed URL. */
  function link(u, label) {
    let x;
    try { x = new URL(u); } catch (_) { return null; }
    if (x.protocol !== 'https:' && x.protocol !== 'http:') return null;
    return h('a', { href: x.href, target: '_blank', rel: 'noopener noreferrer' },
      label || x.href, h('span', { class: 'sr' }, t('newTab')));
  }
  const shortUrl = (u) => { try { const x = new URL(u); return x.host + (x.pathname.length > 1 ? x.pathname : ''); } catch (_) { return u; } };
  function date(s) {
    const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(s || '');
    if (!s) return null;
    return h('time', { datetime: s }, m ? (lang === 'ja' || lang === 'easy' ? `${+m[1]}年${+m[2]}月${+m[3]}日` : m[0]) : s);
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
  const post = async (path, body) => (await call(path, null, body)).json();
  function errText(e) {
    const s = e && e.status, m = String((e && e.message) || '');
    if (s === 429) return e.retry ? t('busyS', e.retry) : t('busy');
    // The page names a municipality the service has no FAQ for: the site's setting, not the resident's question.
    if ((s === 404 || s === 400) && /unknown municipality|municipality code/.test(m)) return t('muni');
    if (s === 413 || (s === 400 && /too long/.test(m))) return t('tooLong');
    if (s === 400) return t('bad', m);
    if (s === -1) return t('cut');
    return s ? t('server', s) : t('offline');
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
  // What the log shows, to show it again on the site's next page: {u: text} (the server's masked
  // text), {r: reply}, {o: opened entry}; each answer's 👍/👎 as fb.
  let items = [];
  try { size = Math.min(SIZES.length - 1, Math.max(0, +localStorage.getItem(KEY) || 0)); } catch (_) { /* storage off */ }
  function save() {
    try { sessionStorage.setItem(CONV, JSON.stringify({ conv: convId, items: items.slice(-40), open: !panel.hidden })); } catch (_) { /* storage off or full */ }
  }

  const host = h('div', { 'data-madoguchi-widget': '' });
  const root = host.attachShadow({ mode: 'open' });
  const log = tx(h('div', { class: 'log', role: 'log', 'aria-live': 'polite', tabindex: '0' }), 'log', 'aria-label');
  const input = tx(h('textarea', { id: 'q', rows: '2', maxlength: '500', 'aria-describedby': 'hint' }), 'ph', 'placeholder');
  const sendBtn = tx(h('button', { type: 'submit', class: 'send' }), 'send');
  // Visible text first, then the words for screen readers (the name contains what is seen).
  const zoomBtn = (sign, key, d) => tx(btn('ib', [sign, tx(h('span', { class: 'sr' }), key)], () => zoom(d)), key, 'title');
  const smaller = zoomBtn('A−', 'smaller', -1), larger = zoomBtn('A＋', 'larger', 1);
  const heading = h('h2', { id: 'title', tabindex: '-1' }, ds.title || '');
  if (!ds.title) tx(heading, 'title');
  const langs = tx(h('select', { onchange: () => setLang(langs.value, true) },
    Object.keys(LANGS).map((c) => h('option', { value: c, lang: HTML_LANG[c] || c }, LANGS[c]))), 'lang', 'aria-label');
  const panel = h('div', { class: 'panel', id: 'panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'title', hidden: true },
    h('div', { class: 'hd' }, heading,
      tx(tx(btn('ib', icon('M6 6l12 12M18 6L6 18'), close), 'close', 'aria-label'), 'close', 'title'),
      h('div', { class: 'tb' }, langs,
        tx(tx(btn('ib rs', tx(h('span'), 'restart'), restart), 'restartHelp', 'title'), 'restartHelp', 'aria-description'),
        smaller, larger)),
    log,
    h('form', { class: 'ft', onsubmit: (e) => { e.preventDefault(); send(input.value); } },
      h('div', { class: 'row' }, tx(h('label', { for: 'q' }), 'input'), tx(btn('lk', '', () => menu(true)), 'menu')),
      h('div', { class: 'row' }, input, sendBtn),
      tx(h('p', { id: 'hint', class: 'hint' }), 'hint')));
  const launcher = btn('launch', [icon('M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2h-9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z'), tx(h('span'), 'launch')],
    () => open(), { 'aria-haspopup': 'dialog', 'aria-expanded': 'false', 'aria-controls': 'panel' });
  // A constructed sheet is not an inline style, so a host page's CSP (style-src) does not block it.
  if (root.adoptedStyleSheets && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else root.append(h('style', {}, CSS));
  const wrap = h('div', { class: 'w' }, launcher, panel);
  root.append(wrap);

  function applyLang() {
    for (const [el, k, a] of L) if (a) el.setAttribute(a, t(k)); else el.textContent = t(k);
    wrap.setAttribute('lang', HTML_LANG[lang] || lang);
    langs.value = lang;
  }
  /** Switches the widget's own words once its file is there; `mine`: the resident chose it (kept
   * for the tab; the language of a question no longer switches it). Messages shown stay as they
   * were. A file that cannot be loaded leaves the language as it was. */
  function setLang(c, mine) {
    c = code(c);
    if (!c) return Promise.resolve();
    if (mine) {
      chosen = c;
      try { sessionStorage.setItem('madoguchi.lang', c); } catch (_) { /* storage off */ }
    }
    return pack(c).then(() => { lang = c; applyLang(); }, () => applyLang());
  }
  applyLang();
  const ready = setLang(wanted);

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

  /** On a touch screen focus goes to the title, so that no on-screen keyboard covers the menu. */
  const focusStart = () => (touch ? heading : input).focus();
  function open(restored) {
    if (panel.hidden) {
      panel.hidden = false;
      launcher.hidden = true;
      launcher.setAttribute('aria-expanded', 'true');
      if (!started) {
        started = true;
        ready.then(() => { greet(); replay(); });
      }
      save();
    }
    // Restored open on the site's next page: the dialog is modal, so focus goes into it, to
    // its title (no on-screen keyboard).
    if (restored === true) heading.focus({ preventScroll: true }); else focusStart();
  }
  /** 「最初から」: a new conversation. The log is cleared and the next message starts afresh. */
  function restart() {
    epoch++;
    convId = null;
    items = [];
    busy = false;
    sendBtn.removeAttribute('aria-disabled');
    log.replaceChildren();
    save();
    greet();
    focusStart();
  }
  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute('aria-expanded', 'false');
    save();
    launcher.focus();
  }
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !e.isComposing) { e.preventDefault(); close(); }
    else if (e.key === 'Tab') trap(e);
  });
  /** Tab and Shift+Tab cycle through the dialog's visible controls. */
  function trap(e) {
    const els = [...panel.querySelectorAll('a[href],button,textarea,select,[tabindex]')]
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
  const bot = (...kids) => h('div', { class: 'm b' }, h('span', { class: 'sr' }, t('bot')), ...kids);
  const said = (text) => add(h('div', { class: 'm u' }, h('span', { class: 'sr' }, t('you')), text));
  const waiting = () => add(h('div', { class: 'm b', 'aria-hidden': 'true' }, h('p', { class: 'p' }, t('wait'))));
  const failed = (e) => add(h('div', { class: 'm err', role: 'alert' }, errText(e)));
  const telOf = (p) => String(p || '').replace(/[^\d+]/g, '');
  /** The office and phone of an entry in a list, so that a resident who stops there knows whom to call. */
  function contactLine(c) {
    c = c || {};
    const tel = telOf(c.phone);
    return (c.office || tel) ? h('span', { class: 'ct' }, c.office && ja(c.office), tel && [' ', t('tel'), h('a', { href: 'tel:' + tel }, c.phone)]) : null;
  }
  /** Questions to open; `via` (menu, candidate, related, popular) and the question they came from are recorded. */
  const qlist = (list, via, mid) => h('ul', {}, list.map((c) => h('li', {},
    btn('q', ja(c.question), () => openFaq(c.faq_id, c.question, via, mid)), via !== 'menu' && contactLine(c.contact))));
  const menuBtn = () => btn('lk', t('menu'), () => menu(true));

  function greet() {
    const card = add(bot(h('p', {}, t('hello')), h('p', {}, t('howto')), h('p', { class: 'warn' }, t('privacy'))));
    // Notices and popular questions come when the server answers; the menu works without them.
    getJson('/api/start').then((s) => {
      const ns = s.notices || [], ps = s.popular || [];
      if (ns.length) {
        card.append(h('p', { class: 'sub' }, t('notices')), h('ul', {}, ns.map((n) => h('li', { class: 'nt', lang: 'ja' },
          h('strong', {}, n.title), n.text, n.url && [' ', link(n.url, t('details'))]))));
      }
      if (ps.length) card.append(h('p', { class: 'sub' }, t('popular')), qlist(ps, 'popular'));
    }).catch(() => { /* the greeting and the menu stand alone */ });
    menu(false);
  }
  /** Shows the kept conversation again (another page of the site, same tab). */
  function replay() {
    for (const it of items) {
      if (it.u != null) said(it.u);
      else if (it.r) add(result(it.r, it));
      else if (it.o) add(opened(it.o, it));
    }
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
    const card = add(h('div', { class: 'm b', 'aria-live': 'off' }, h('p', {}, t('loading'))), focus);
    level(card, [], false, focus);
  }
  async function level(card, path, exact, focus) {
    card.setAttribute('aria-busy', 'true');
    let body;
    try { body = await levelBody(card, path, exact); } catch (e) {
      body = [h('p', {}, t('catsFailed') + errText(e)), btn('lk', t('reload'), () => level(card, path, exact, true))];
    }
    card.removeAttribute('aria-busy');
    const head = h('h3', { tabindex: '-1' }, path.length ? ja(path.join(' ＞ ') + (exact ? ' ＞ ' + t('other') : '')) : t('menu'));
    const back = path.length ? btn('lk', t('back'), () => level(card, exact ? path : path.slice(0, -1), false, true), { 'aria-label': t('backHelp') }) : null;
    card.replaceChildren(h('div', { class: 'mh' }, head, back), ...body.flat(2).filter(Boolean));
    if (focus) head.focus();
  }
  async function levelBody(card, path, exact) {
    const tree = (await cats()).categories || [];
    // A level that holds one question is that question, not a category with one thing in it.
    const choices = (kids, extra) => h('ul', {}, kids.map((k) => h('li', {}, k.entry
      ? btn('q', ja(k.entry.question), () => openFaq(k.entry.faq_id, k.entry.question, 'menu'))
      : btn('c', [ja(k.name), h('span', { class: 'n' }, t('n', k.count))], () => level(card, [...path, k.name], false, true)))), extra);
    if (!path.length) return [h('p', {}, t('pick')), choices(tree)];
    let node = { children: tree };
    for (const p of path) node = (node.children || []).find((x) => x.name === p) || {};
    const kids = exact ? [] : node.children || [];
    if (kids.length) {
      const rest = (node.count || 0) - kids.reduce((s, k) => s + (k.count || 0), 0);
      return [
        node.starters && node.starters.length && [h('p', { class: 'sub' }, t('popular')), qlist(node.starters, 'menu')],
        h('p', { class: 'sub' }, t('more')),
        choices(kids, rest > 0 && h('li', {}, btn('c', [t('other'), h('span', { class: 'n' }, t('n', rest))], () => level(card, path, true, true)))),
      ];
    }
    const qs = await leaf(path, exact);
    return [qs.length ? qlist(qs, 'menu') : h('p', {}, t('none'))];
  }

  // --- answers ---
  function meta(a) {
    const dl = h('dl', { class: 'meta' });
    const row = (k, ...v) => { v = v.filter(Boolean); if (v.length) dl.append(h('div', {}, h('dt', {}, k), h('dd', {}, ...v))); };
    const src = a.sources && a.sources.length ? a.sources : [a];
    if (src.length > 1) {
      row(t('source'), h('ul', {}, src.map((s, i) => h('li', {}, `[${i + 1}] `, ja(s.question || ''), ' ', link(s.source_url, shortUrl(s.source_url))))));
    } else row(t('source'), link(src[0].source_url, shortUrl(src[0].source_url)));
    row(t('updated'), date(a.updated));
    const c = a.contact || {}, tel = telOf(c.phone);
    row(t('contact'), c.office && ja(c.office),
      tel && h('span', {}, t('tel'), h('a', { href: 'tel:' + tel }, c.phone)),
      c.url && link(c.url, t('page')));
    return dl.children.length ? dl : null;
  }
  /** 👍/👎 on an answer, whichever way it was reached (`target`: its message_id or opened_id):
   * a click is stored at once; the comment box then shows right under it, and sends the same
   * vote with the comment (the server keeps one feedback per answer). */
  function feedback(target, it) {
    let helpful = it.fb == null ? null : it.fb, sending = false;
    const press = (v) => {
      yes.setAttribute('aria-pressed', String(v === true));
      no.setAttribute('aria-pressed', String(v === false));
    };
    const vote = async (v) => {
      if (sending) return;
      sending = true;
      press(v);
      try {
        await post('/api/feedback', { ...target, helpful: v });
        helpful = it.fb = v;
        save();
        status.textContent = t('voted');
        form.hidden = false;
        form.scrollIntoView({ block: 'nearest', behavior: motion && motion.matches ? 'auto' : 'smooth' });
      } catch (err) {
        press(helpful);
        status.textContent = t('fbFailed') + errText(err);
      }
      sending = false;
    };
    const yes = btn('v', [h('span', { 'aria-hidden': 'true' }, '👍 '), t('yes')], () => vote(true), { 'aria-pressed': 'false' });
    const no = btn('v', [h('span', { 'aria-hidden': 'true' }, '👎 '), t('no')], () => vote(false), { 'aria-pressed': 'false' });
    const comment = h('textarea', { rows: '2', maxlength: '1000' });
    const status = h('p', { class: 'hint', role: 'status' });
    const form = h('form', { hidden: helpful == null, onsubmit: async (e) => {
      e.preventDefault();
      const text = comment.value.trim();
      if (sending || helpful == null || !text) return;
      sending = true;
      try {
        await post('/api/feedback', { ...target, helpful, comment: text });
        it.fbDone = true;
        save();
        const thanks = h('p', { tabindex: '-1' }, t('thanks'));
        box.replaceChildren(thanks);
        thanks.focus();
      } catch (err) {
        status.textContent = t('fbFailed') + errText(err);
      }
      sending = false;
    } },
    h('label', {}, t('comment'), comment),
    h('button', { type: 'submit', class: 'btn' }, t('sendComment')));
    press(helpful);
    const box = h('div', { class: 'fb', role: 'group', 'aria-label': t('rateGroup') },
      h('p', {}, t('rate')), yes, no, status, form);
    if (it.fbDone) box.replaceChildren(h('p', {}, t('thanks')));
    return box;
  }
  /** An FAQ answer: the official Japanese text (introduced in the resident's language), its
   * source, date and office, 👍/👎 and related questions. */
  function answer(a, o, it) {
    return bot(
      h('h3', { tabindex: '-1', lang: 'ja' }, a.question),
      t('official') && h('p', { class: 'note' }, t('official')),
      o.generated && h('p', { class: 'note' }, t('generated')),
      h('div', { lang: 'ja' }, paras(a.text, a.sources)), meta(a),
      // Not stored (the database failed): there is nothing to give feedback on.
      o.target && feedback(o.target, it),
      o.related && o.related.length && [h('p', { class: 'sub' }, t('related')), qlist(o.related, 'related', o.mid)]);
  }
  function result(r, it) {
    if (r.decision === 'small_talk' && r.small_talk) return bot(...paras(r.small_talk.text), menuBtn());
    if (r.decision === 'answer' && r.answer) {
      const m = answer(r.answer, { generated: r.generated, target: r.recorded !== false && { message_id: r.message_id }, related: r.related, mid: r.message_id }, it);
      // Say so when the answer read the message as a follow-up, so that a wrong reading shows.
      if (r.follow_up_of) m.querySelector('h3').after(h('p', { class: 'note' }, t('followUp', r.follow_up_of)));
      return m;
    }
    if (r.decision === 'candidates' && r.candidates && r.candidates.length) {
      return bot(h('h3', {}, t('maybe')), h('p', {}, t('choose')), qlist(r.candidates, 'candidate', r.message_id), menuBtn());
    }
    const f = r.fallback || {};
    return bot(...paras(lang === 'ja' && f.text ? f.text : t('fallback')), meta({ contact: f.contact }), menuBtn());
  }
  /** An entry opened from a list, as /api/open returned it. */
  function opened(o, it) {
    const e = o.entry;
    return answer({ text: e.answer, question: e.question, source_url: e.source_url, updated: e.updated, contact: e.contact },
      { target: o.opened_id && { opened_id: o.opened_id }, related: o.related, mid: o.mid }, it);
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
      const out = h('p', { class: 'st', lang: 'ja' });
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
      // The widget speaks the language the question was written in, unless the resident chose.
      if (!chosen && !code(ds.lang) && code(r.query_language) && code(r.query_language) !== lang) await setLang(r.query_language);
      const it = { r };
      items.push({ u: r.question || text }, it);
      add(result(r, it), true);
      save();
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
  /** A question picked from a list (menu, popular, candidates, related): its entry, recorded. */
  async function openFaq(id, question, via, mid) {
    said(ja(question));
    const pending = waiting(), at = epoch;
    const body = { faq_id: id, via };
    if (mid) body.message_id = mid;
    if (convId) body.conversation_id = convId;
    if (MUNI) body.municipality = MUNI;
    try {
      const o = await post('/api/open', body);
      if (at !== epoch) return;
      pending.remove();
      const it = { o: { entry: o.entry, opened_id: o.opened_id, related: o.related, mid } };
      items.push({ u: question }, it);
      save();
      add(opened(it.o, it), true).querySelector('h3').focus({ preventScroll: true });
    } catch (err) {
      pending.remove();
      failed(err);
    }
  }

  function mount() {
    D.body.append(host);
    // The same tab came back to the site (another page): the conversation continues.
    let kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(CONV) || 'null'); } catch (_) { /* storage off */ }
    if (kept && Array.isArray(kept.items)) {
      convId = kept.conv || null;
      items = kept.items;
      if (kept.open) open(true);
    }
  }
  if (D.body) mount(); else D.addEventListener('DOMContentLoaded', mount);
  W.madoguchiWidget = Object.freeze({ open, close, restart, lang: (c) => setLang(c, true), ask: (text) => { open(); input.value = String(text); send(input.value); } });
})();
