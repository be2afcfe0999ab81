// The Documents panel's and the citations' pure helpers without a browser (node): sizes and
// dates as the file list shows them, upload status lines, the per-chat store choice and the
// file_search tool it adds to a request, citations read from a streamed delta, chip labels,
// and [n] markers found in answer text.
//   node tests/web/documents_test.mjs
import assert from 'node:assert/strict';
import { citationLabel, citationsOf, splitMarkers } from '../../web/js/citations.js';
import {
  activeStores, fileSearchFields, formatBytes, formatDate, toggledStores, uploadStatusText,
} from '../../web/js/documents.js';
import { explainKnowledgeError } from '../../web/js/knowledge_api.js';

// --- sizes and dates ---
assert.equal(formatBytes(0), '0 B');
assert.equal(formatBytes(1023), '1023 B');
assert.equal(formatBytes(1024), '1.0 KiB');
assert.equal(formatBytes(9_728), '9.5 KiB');
assert.equal(formatBytes(12_800), '13 KiB'); // whole units from 10 on
assert.equal(formatBytes(33_554_432), '32 MiB');
assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
assert.equal(formatBytes(-1), '');
assert.equal(formatBytes(undefined), '');

const now = new Date(2026, 11, 7, 15, 30); // local time, so the test holds in any time zone
const at = (...args) => new Date(...args).getTime() / 1000;
assert.equal(formatDate(at(2026, 11, 7, 9, 5), now), '09:05');
assert.equal(formatDate(at(2026, 2, 14, 23, 59), now), '14 Mar 23:59');
assert.equal(formatDate(at(2025, 11, 7, 9, 5), now), '7 Dec 2025');
assert.equal(formatDate(undefined, now), '');

// --- uploads ---
assert.equal(uploadStatusText({ phase: 'queued' }), 'Waiting…');
assert.equal(uploadStatusText({ phase: 'sending', loaded: 512, total: 2048 }), 'Sending 25% (512 B of 2.0 KiB)');
assert.equal(uploadStatusText({ phase: 'sending', loaded: 0, total: 0 }), 'Sending 0% (0 B of 0 B)');
assert.equal(uploadStatusText({ phase: 'processing' }), 'Processing…');
assert.equal(uploadStatusText({ phase: 'done' }), 'Added');
assert.equal(uploadStatusText({ phase: 'error', error: 'The file is larger than this server accepts.' }),
  'The file is larger than this server accepts.');
assert.match(explainKnowledgeError(413, 'file too big', false), /larger than this server accepts/);
assert.match(explainKnowledgeError(404, 'the knowledge base is off', false), /^This server has no knowledge base/);
assert.equal(explainKnowledgeError(400, 'unsupported file type', false), 'The server refused it: unsupported file type');
assert.match(explainKnowledgeError(401, 'no key', false), /API key/);

// --- the chat's stores and the request hook ---
assert.deepEqual(toggledStores(undefined, 'vs_a', true), ['vs_a']);
assert.deepEqual(toggledStores(['vs_a', 'vs_b'], 'vs_a', true), ['vs_b', 'vs_a']); // no duplicates
assert.deepEqual(toggledStores(['vs_a', 'vs_b'], 'vs_a', false), ['vs_b']);
assert.deepEqual(toggledStores(['vs_a', 7, null], 'vs_c', false), ['vs_a']);
assert.deepEqual(activeStores(['vs_a', 'vs_gone'], ['vs_a', 'vs_b']), ['vs_a']);
assert.deepEqual(activeStores(['vs_a', 'vs_gone'], null), ['vs_a', 'vs_gone']); // list not loaded
assert.deepEqual(activeStores(undefined, ['vs_a']), []);
assert.deepEqual(fileSearchFields([]), {});
assert.deepEqual(fileSearchFields(undefined), {});
assert.deepEqual(fileSearchFields(['vs_a']), {
  tools: [{ type: 'file_search', vector_store_ids: ['vs_a'], max_num_results: 5 }],
});
const many = Array.from({ length: 12 }, (_, k) => `vs_${k}`);
assert.equal(fileSearchFields(many).tools[0].vector_store_ids.length, 10); // the server's limit

// --- citations from a streamed first delta ---
const delta = {
  role: 'assistant',
  content: '',
  citations: [
    { index: 2, file_id: 'file-b', filename: 'notes.txt', chunk: { id: 9, index: 0, begin: 0, end: 80 }, score: 0.41, text: 'Bread.' },
    { index: 1, file_id: 'file-a', filename: 'keeper.pdf', chunk: { id: 4, index: 2, begin: 10, end: 90 }, score: 0.83, text: 'Gulls.' },
    { index: 'x', file_id: 'file-c', text: 'no index' },
    { index: 3, filename: 'no id', text: 'dropped' },
  ],
};
const cites = citationsOf(delta);
assert.deepEqual(cites.map((c) => [c.index, c.filename, c.chunk.index, c.text]),
  [[1, 'keeper.pdf', 2, 'Gulls.'], [2, 'notes.txt', 0, 'Bread.']]);
assert.deepEqual(citationsOf(delta.citations), cites); // the array alone reads the same
assert.equal(citationsOf({ role: 'assistant', content: 'Hi' }), null);
assert.equal(citationsOf({ citations: [] }), null);
assert.equal(citationsOf(null), null);
assert.equal(citationsOf([{ index: 1, file_id: 'f', text: 't' }])[0].filename, 'f'); // no name: the id
assert.equal(citationLabel(cites[0]), '[1] keeper.pdf · chunk 3');
assert.equal(citationLabel({ index: 4, filename: 'x.md', chunk: { index: null } }), '[4] x.md');

// --- [n] markers in answer text ---
assert.deepEqual(splitMarkers('Gulls [1] and bread [2].', 2),
  ['Gulls ', { n: 1, text: '[1]' }, ' and bread ', { n: 2, text: '[2]' }, '.']);
assert.deepEqual(splitMarkers('Both [1, 2] and [1][2]', 2),
  ['Both ', { n: 1, text: '[1' }, ',', ' ', { n: 2, text: '2]' }, ' and ', { n: 1, text: '[1]' }, { n: 2, text: '[2]' }]);
assert.deepEqual(splitMarkers('Not [3], not [0], not [a], array [1,2,3]', 2),
  ['Not [3], not [0], not [a], array [1,2,3]']);
assert.deepEqual(splitMarkers('no markers', 2), ['no markers']);
assert.equal(splitMarkers('x [1] y [2] z', 1).filter((p) => typeof p === 'object').length, 1);
console.log('documents.js, citations.js: ok');
