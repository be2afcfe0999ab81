// models.js — which model the picker selects when the page opens.
//
// Promise: pickDefaultModel(ids, saved) returns one of `ids` (or '' when there are none).
//
// GET /v1/models says nothing about what a model does (OpenAI's model object has only id,
// created and owned_by), so the picker lists *every* model and lets the person choose; a
// model that cannot chat answers with an error that the page shows. Only the *default* guesses:
//   1. the model chosen last time, if the server still serves it;
//   2. else the first id that does not look like an embedding model by name (all-MiniLM,
//      "embed", bge, e5, gte — the common sentence-embedding families);
//   3. else the first id.
const EMBEDDING_NAME = /minilm|embed|(^|[^a-z])(bge|e5|gte)([^a-z]|$)/i;

export function pickDefaultModel(ids, saved) {
  if (saved && ids.includes(saved)) return saved;
  return ids.find((id) => !EMBEDDING_NAME.test(id)) ?? ids[0] ?? '';
}
