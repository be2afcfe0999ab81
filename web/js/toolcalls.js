// toolcalls.js — the tool calls of an answer, as data (no DOM, no I/O; view.js draws them).
//
// A streamed answer sends its calls in pieces: chunks whose choices[0].delta.tool_calls is
// [{index, id?, type?: "function", function?: {name?, arguments?: "<piece>"}}], a call's name
// first, then its arguments (JSON text) in pieces, calls told apart by `index`; the last chunk
// says finish_reason "tool_calls". A call, once gathered, is
// {index, id, type: "function", function: {name, arguments}} (OpenAI's shape plus its index).
//
// Promises:
//   - mergeToolCallDeltas(calls, deltas) returns new calls with `deltas` (one chunk's
//     delta.tool_calls) added, `calls` left untouched: per index, name and arguments pieces are
//     appended (as OpenAI's SDKs accumulate them), id and type replaced when sent; calls stay
//     sorted by index; a delta without an index counts by its place in the list;
//   - collectStream(chunks) gathers recorded chunks (choice 0) the way the page does while
//     streaming: {content, tool_calls, finish};
//   - sendableToolCalls(calls, idPrefix) is what may go back to the server in a later request:
//     the calls with a name and arguments that are the JSON text of an object (a call cut
//     short by Stop or max_tokens is not), as [{id, type: "function", function: {name,
//     arguments}}]; a call the server sent no id for gets `${idPrefix}_${index}`.

export function mergeToolCallDeltas(calls, deltas) {
  const out = (calls || []).map((c) => ({ ...c, function: { ...c.function } }));
  (Array.isArray(deltas) ? deltas : []).forEach((d, position) => {
    if (!d || typeof d !== 'object') return;
    const index = Number.isInteger(d.index) ? d.index : position;
    let call = out.find((c) => c.index === index);
    if (!call) {
      call = { index, id: '', type: 'function', function: { name: '', arguments: '' } };
      out.push(call);
    }
    if (typeof d.id === 'string' && d.id) call.id = d.id;
    if (typeof d.type === 'string' && d.type) call.type = d.type;
    const f = d.function || {};
    if (typeof f.name === 'string') call.function.name += f.name;
    if (typeof f.arguments === 'string') call.function.arguments += f.arguments;
  });
  return out.sort((a, b) => a.index - b.index);
}

export function collectStream(chunks) {
  let content = '';
  let toolCalls = [];
  let finish = '';
  for (const chunk of chunks || []) {
    const choice = ((chunk && chunk.choices) || [])[0];
    if (!choice) continue;
    if (choice.finish_reason) finish = choice.finish_reason;
    const delta = choice.delta || {};
    if (typeof delta.content === 'string') content += delta.content;
    if (Array.isArray(delta.tool_calls)) toolCalls = mergeToolCallDeltas(toolCalls, delta.tool_calls);
  }
  return { content, tool_calls: toolCalls, finish };
}

export function sendableToolCalls(calls, idPrefix = 'call') {
  const out = [];
  for (const c of Array.isArray(calls) ? calls : []) {
    const f = (c && c.function) || {};
    if (typeof f.name !== 'string' || !f.name || typeof f.arguments !== 'string') continue;
    let args;
    try {
      args = JSON.parse(f.arguments);
    } catch {
      continue;
    }
    if (!args || typeof args !== 'object' || Array.isArray(args)) continue;
    out.push({
      id: c.id || `${idPrefix}_${Number.isInteger(c.index) ? c.index : out.length}`,
      type: 'function',
      function: { name: f.name, arguments: f.arguments },
    });
  }
  return out;
}
