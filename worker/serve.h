// The serving loop of a worker group's leader: requests from the coordinator (through the
// CoordinatorLink) are scheduled with continuous batching and run step by step on the group;
// each step's token events go back in one message.
//
// Between steps the loop takes every queued command (Submit, Cancel, Shutdown) without
// waiting while there is work, and sleeps on the link's inbox when the group is idle (the
// peers then wait in broadcast_when_ready, without spinning). A Submit the scheduler refuses
// is answered with Rejected. serve() returns when the coordinator sends Shutdown or `stop`
// becomes true, after telling the peers to stop too.
#pragma once

#include <atomic>

#include "worker/coordinator_link.h"
#include "worker/group.h"
#include "worker/scheduler.h"

namespace shardserve {

struct ServeStats {
  int64_t steps = 0;
  int64_t requests = 0;
  int64_t prompt_tokens = 0;  // embedding groups: tokens encoded
  int64_t generated_tokens = 0;
};

// Leader only. `grammars`: the model's grammar support (requests with a grammar are refused
// without it).
ServeStats serve(GroupMember& group, CoordinatorLink& link, const SchedulerLimits& limits,
                 const std::atomic<bool>& stop, GrammarConstraints* grammars = nullptr);

}  // namespace shardserve
