// A stand-in for an OpenAI-compatible endpoint (POST /v1/chat/completions with "stream": true),
// so that the widget's handling of `delta` events can be tested without a real model. It answers
// with a fixed sentence that cites the first FAQ entry of the prompt, in pieces `gapMs` apart.
import http from 'node:http';

/** The pieces of the answer; the last one carries the citation the server checks for. */
// Two sentences: the server shows streamed text a whole cited sentence at a time, so the first
// (cited) sentence appears while the second is still coming.
export const PIECES = ['暗証番号を忘れたときは、', 'マイナンバーカードを持って窓口へ。', '市区町村の窓口で再設定してください。'];

export function startFakeLlm({ gapMs = 700 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"not found"}');
        return;
      }
      let payload = {};
      try { payload = JSON.parse(body); } catch { /* answered below */ }
      requests.push(payload);
      const prompt = (payload.messages || []).map((m) => m.content).join('\n');
      const id = (/"id":\s*"([^"]+)"/.exec(prompt) || [])[1] || 'unknown';
      const pieces = [...PIECES];
      pieces[1] += `[FAQ:${id}]`;
      if (!payload.stream) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: pieces.join('') } }] }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      for (const p of pieces) {
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: p } }] })}\n\n`);
        await new Promise((r) => setTimeout(r, gapMs));
      }
      res.end('data: [DONE]\n\n');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/v1`,
        requests,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
      });
    });
  });
}
