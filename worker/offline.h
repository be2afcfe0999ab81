// Offline generation on a worker group's leader: requests from a JSON-lines stream, results
// to another, scheduled with continuous batching exactly as served requests are. Used by the
// tensor-parallel tests (tp = 1, 2, 3 must give the same tokens) and the tp benchmark.
//
// Request line:  {"id": 7, "prompt": "text" | "prompt_tokens": [1, 2], "max_tokens": 32,
//                 "temperature": 0, "top_p": 1, "top_k": 0, "min_p": 0, "seed": 0,
//                 "ignore_eos": false, "grammar": "root ::= ..."}   (GBNF; optional)
// Result line:   {"id": 7, "tokens": [...], "text": "...", "finish_reason": "length",
//                 "prompt_tokens": 5, "completion_tokens": 32}
// Malformed lines produce {"id": ..., "error": "..."} and do not stop the run.
#pragma once

#include <istream>
#include <ostream>

#include "model/tokenizer/tokenizer.h"
#include "worker/group.h"
#include "worker/scheduler.h"

namespace shardserve {

struct OfflineStats {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double seconds = 0;
  double sampling_seconds = 0;      // of which sampling (on_step_done)
  int64_t constrained_samples = 0;  // tokens sampled under a grammar
  int64_t masked_samples = 0;       // of which needed the grammar's full mask
  PrefixCacheStats prefix;          // prompt tokens looked up and found in the prefix cache
  SpecStats spec;                   // draft tokens proposed and accepted
};

// Leader only. Runs every request in `in` to completion, then sends the peers a shutdown plan.
OfflineStats run_offline(GroupMember& group, const Tokenizer& tokenizer,
                         const SchedulerLimits& limits, std::istream& in, std::ostream& out);

}  // namespace shardserve
