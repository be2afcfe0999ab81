// The serving loop of an embedding group's leader: Embed requests from the coordinator
// (through the CoordinatorLink) are batched into encoder steps (EmbedBatcher) and run on the
// group; each step's embeddings go back in one Embeddings message.
//
// The loop has the shape of serve() (worker/serve.h): it takes every queued command between
// steps, sleeps on the link's inbox when idle, and on Shutdown or `stop` tells the peers to
// stop too. A Submit (text generation) is answered with Rejected: this group embeds. A Cancel
// of an input still queued drops it and answers Rejected, so no request is left without an
// answer.
#pragma once

#include <atomic>

#include "worker/coordinator_link.h"
#include "worker/embed_batcher.h"
#include "worker/group.h"
#include "worker/serve.h"

namespace shardserve {

// Leader of an encoder group only.
ServeStats serve_embeddings(GroupMember& group, CoordinatorLink& link, const EmbedLimits& limits,
                            const std::atomic<bool>& stop);

}  // namespace shardserve
