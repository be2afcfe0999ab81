// knowledge_api.js — the page's door to the server's knowledge base: files and vector stores
// in OpenAI's shapes (coordinator/serving/knowledge_endpoints.h).
//
// Promises:
//   - listFiles / listStores / listStoreFiles resolve to the `data` array of the list (newest
//     first); createStore, addStoreFile, removeStoreFile, deleteFile, deleteStore resolve to
//     the server's JSON answer;
//   - uploadFile(conn, file, {onProgress, signal}) sends one File as multipart/form-data
//     (fields `file` and `purpose` = "assistants") through XMLHttpRequest, because fetch
//     reports no upload progress: onProgress({phase: 'sending', loaded, total}) while the bytes
//     go up, then onProgress({phase: 'processing'}) once they are all sent (the server answers
//     only after the file is extracted, chunked, embedded and committed); resolves to the
//     file object;
//   - fileBlob(conn, id) resolves to the bytes of GET /v1/files/{id}/content as a Blob
//     (fetched with the API key, so it works where a plain link would get a 401);
//   - every failure is thrown as api.js's ApiError (kinds 'http', 'network', 'abort'), its
//     message a sentence for a person (explainKnowledgeError).
// conn is api.js's {base, key}.

import { ApiError, explainStatus, url as apiUrl } from './api.js';

export async function listFiles(conn, signal) {
  return (await call(conn, 'GET', '/v1/files', undefined, signal)).data || [];
}

export async function deleteFile(conn, id) {
  return call(conn, 'DELETE', `/v1/files/${encodeURIComponent(id)}`);
}

export async function listStores(conn, signal) {
  return (await call(conn, 'GET', '/v1/vector_stores?limit=100', undefined, signal)).data || [];
}

export async function createStore(conn, name, fileIds) {
  return call(conn, 'POST', '/v1/vector_stores', { name, file_ids: fileIds });
}

export async function deleteStore(conn, id) {
  return call(conn, 'DELETE', `/v1/vector_stores/${encodeURIComponent(id)}`);
}

export async function listStoreFiles(conn, id, signal) {
  const path = `/v1/vector_stores/${encodeURIComponent(id)}/files?limit=100`;
  return (await call(conn, 'GET', path, undefined, signal)).data || [];
}

export async function addStoreFile(conn, storeId, fileId) {
  return call(conn, 'POST', `/v1/vector_stores/${encodeURIComponent(storeId)}/files`, { file_id: fileId });
}

export async function removeStoreFile(conn, storeId, fileId) {
  const path = `/v1/vector_stores/${encodeURIComponent(storeId)}/files/${encodeURIComponent(fileId)}`;
  return call(conn, 'DELETE', path);
}

export function fileContentUrl(conn, id) {
  return apiUrl(conn, `/v1/files/${encodeURIComponent(id)}/content`);
}

export async function fileBlob(conn, id) {
  const res = await request(conn, 'GET', `/v1/files/${encodeURIComponent(id)}/content`);
  return res.blob();
}

export function uploadFile(conn, file, { onProgress = () => {}, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', apiUrl(conn, '/v1/files'));
    if (conn.key) xhr.setRequestHeader('Authorization', `Bearer ${conn.key}`);
    xhr.responseType = 'text';
    xhr.upload.addEventListener('progress', (e) => {
      onProgress({ phase: 'sending', loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    });
    xhr.upload.addEventListener('load', () => onProgress({ phase: 'processing' }));
    xhr.addEventListener('load', () => {
      const json = parseJson(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300 && json && json.id) resolve(json);
      else reject(errorFrom(xhr.status, xhr.statusText, json, Boolean(conn.key)));
    });
    // No answer at all: the server is down, or it refused a too large file by closing early.
    xhr.addEventListener('error', () => reject(new ApiError('network',
      `The upload of ${file.name} got no answer from ${apiUrl(conn, '')}: the server may be down, ` +
      'or the file larger than it accepts.')));
    xhr.addEventListener('abort', () => reject(new ApiError('abort', 'Stopped.')));
    if (signal) signal.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append('purpose', 'assistants');
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

// The sentence for a failed knowledge request: the statuses whose chat wording (api.js) would
// mislead here are said in the knowledge base's own words.
export function explainKnowledgeError(status, detail, sentKey) {
  if (status === 413) return `The file is larger than this server accepts. (${detail})`;
  if (status === 404 && /knowledge/i.test(detail))
    return `This server has no knowledge base. (${detail})`;
  if (status === 400) return `The server refused it: ${detail}`;
  return explainStatus(status, detail, sentKey);
}

// --- plumbing -------------------------------------------------------------------------------

async function call(conn, method, path, body, signal) {
  return (await request(conn, method, path, body, signal)).json();
}

async function request(conn, method, path, body, signal) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (conn.key) headers.Authorization = `Bearer ${conn.key}`;
  let res;
  try {
    res = await fetch(apiUrl(conn, path), {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if ((signal && signal.aborted) || (err && err.name === 'AbortError')) throw new ApiError('abort', 'Stopped.');
    throw unreachable(conn);
  }
  if (!res.ok) {
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null; // not an OpenAI error body: the status speaks alone
    }
    throw errorFrom(res.status, res.statusText, json, Boolean(conn.key));
  }
  return res;
}

function errorFrom(status, statusText, json, sentKey) {
  const e = json && typeof json.error === 'object' && json.error ? json.error : {};
  const detail = e.message || `${status} ${statusText || ''}`.trim();
  return new ApiError('http', explainKnowledgeError(status, detail, sentKey), {
    status, type: e.type || '', code: e.code || '', detail,
  });
}

function unreachable(conn) {
  return new ApiError('network', `Could not reach the server at ${apiUrl(conn, '')}. Is it running?`);
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
