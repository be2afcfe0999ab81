// api.js — the page's only door to the server's OpenAI-compatible API.
//
// Promises:
//   - listModels(conn) resolves to the model ids of GET /v1/models, in the server's order;
//   - fetchMetrics(conn, signal) resolves to the text of GET /metrics (Prometheus format);
//   - fetchCluster(conn, signal) resolves to the JSON of GET /v1/cluster (the cluster's groups,
//     their load and GPUs: coordinator/serving/cluster_endpoint.h);
//   - streamChat(conn, body, signal) yields the parsed chunks of POST /v1/chat/completions with
//     stream: true and returns when `data: [DONE]` arrives;
//   - every failure is thrown as an ApiError whose `message` is a sentence for a person (see
//     explain()) and whose `kind` says what happened: 'http' (an error status; `status`, `type`,
//     `code` and the server's own `detail` are set), 'stream' (an error event mid-answer),
//     'dropped' (the connection ended before [DONE]), 'network' (the server could not be
//     reached), 'abort' (the caller aborted through `signal`).
// conn is {base, key}: base is the server's URL ('' means this page's own origin); key, when
// not empty, is sent as "Authorization: Bearer <key>".

import { sseEvents } from './sse.js';

export class ApiError extends Error {
  constructor(kind, message, { status = 0, type = '', code = '', detail = '' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.type = type;
    this.code = code;
    this.detail = detail;
  }
}

export async function listModels(conn, signal) {
  const res = await send(conn, 'GET', '/v1/models', undefined, signal);
  const json = await res.json();
  return (json.data || []).map((m) => String(m.id));
}

export async function fetchMetrics(conn, signal) {
  const res = await send(conn, 'GET', '/metrics', undefined, signal);
  return res.text();
}

export async function fetchCluster(conn, signal) {
  const res = await send(conn, 'GET', '/v1/cluster', undefined, signal);
  return res.json();
}

export async function* streamChat(conn, body, signal) {
  const res = await send(conn, 'POST', '/v1/chat/completions', { ...body, stream: true }, signal);
  try {
    for await (const ev of sseEvents(res.body)) {
      if (ev.data === '[DONE]') return;
      let chunk;
      try {
        chunk = JSON.parse(ev.data);
      } catch {
        throw new ApiError('stream', 'The server sent something that is not JSON mid-answer.');
      }
      if (chunk && chunk.error) {
        const e = chunk.error;
        throw new ApiError('stream', explainStream(e.message), {
          type: e.type || '', code: e.code || '', detail: e.message || '',
        });
      }
      yield chunk;
    }
  } catch (err) {
    throw wrapFetchError(err, signal, 'dropped');
  }
  // The body ended without [DONE]: the server or a proxy cut the stream.
  throw new ApiError('dropped', 'The connection dropped before the answer finished.');
}

// --- plumbing -------------------------------------------------------------------------------

// The URL of `path` on the server of `conn` (its base, else the page's own origin).
export function url(conn, path) {
  const base = (conn.base || '').trim().replace(/\/+$/, '');
  return (base || window.location.origin) + path;
}

async function send(conn, method, path, body, signal) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (conn.key) headers.Authorization = `Bearer ${conn.key}`;
  let res;
  try {
    res = await fetch(url(conn, path), {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw wrapFetchError(err, signal, 'network', url(conn, ''));
  }
  if (!res.ok) throw await httpError(res, Boolean(conn.key));
  return res;
}

function wrapFetchError(err, signal, kind, where) {
  if (err instanceof ApiError) return err;
  if ((signal && signal.aborted) || (err && err.name === 'AbortError'))
    return new ApiError('abort', 'Stopped.');
  if (kind === 'network')
    return new ApiError('network', `Could not reach the server at ${where}. Is it running? ` +
      '(If this page is served from elsewhere, check the server URL in Settings.)');
  return new ApiError('dropped', 'The connection dropped before the answer finished.');
}

async function httpError(res, sentKey) {
  let e = {};
  try {
    const json = await res.json();
    if (json && typeof json.error === 'object' && json.error) e = json.error;
  } catch {
    // Not an OpenAI error body (a proxy's HTML page, say): the status speaks alone.
  }
  const detail = e.message || `${res.status} ${res.statusText}`.trim();
  return new ApiError('http', explainStatus(res.status, detail, sentKey), {
    status: res.status, type: e.type || '', code: e.code || '', detail,
  });
}

// The sentence shown to a person for an error status; `detail` is the server's own message.
export function explainStatus(status, detail, sentKey) {
  switch (status) {
    case 401:
      return sentKey
        ? 'The server did not accept the API key. Check it in Settings.'
        : 'The server needs an API key. Set it in Settings.';
    case 429:
      return 'The server is busy right now. Wait a moment, then retry.';
    case 503:
      return `No worker group is serving this model right now. Retry once one is up. (${detail})`;
    case 413:
      return 'This conversation is too long for the server. Start a new chat or shorten the message.';
    case 404:
      return `The server does not know this: ${detail}`;
    case 400:
      return `The server refused the request: ${detail}`;
    default:
      return status >= 500
        ? `The server failed (${status}): ${detail}`
        : `The request failed (${status}): ${detail}`;
  }
}

function explainStream(detail) {
  return `The server stopped the answer: ${detail || 'unknown error'}`;
}
