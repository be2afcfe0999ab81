// Cache-aware routing: which replica (worker group) of a model a generation request goes to.
//
// Each group keeps a prefix cache of full KV blocks (worker/block_manager.h); a request whose
// prompt starts with blocks a group already holds skips computing them there. The coordinator
// cannot see those caches, so it keeps a picture of them, as SGLang's router does: per group,
// the chain hashes of the full prompt blocks it has sent there (salt included, the worker's
// block size), at most as many as the group has KV blocks, the least recently sent forgotten
// first. A request goes to the group whose picture holds the longest run of its first blocks,
// unless that group is much busier than the least busy one (more in-flight requests per batch
// slot than the least busy group's plus `max_extra_load`): then, and when no group holds any
// of its blocks, to the least busy group (ties: lower KV use, then lower id), as before.
// OpenAI's prompt_cache_key pins requests with the same key to the group the key went to last,
// under the same load rule.
//
// The picture is approximate: a group evicts blocks the router still remembers, and caches the
// answers it generates, which the router never sees (the next turn's prompt carries them, and
// they match from the turn after). A wrong guess costs only the prefill a right one saves.
//
// Thread-safe: the HTTP threads share one router.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/token_id.h"
#include "coordinator/group_link.h"

namespace shardserve {

class PrefixRouter {
 public:
  enum class Reason { kPrefix, kCacheKey, kLoad };
  static const char* reason_name(Reason reason);

  struct Choice {
    GroupInfo group;
    Reason reason = Reason::kLoad;
    int64_t matched_tokens = 0;  // prompt tokens the router expects the group to have cached
  };

  // max_extra_load: how much busier (in-flight requests per batch slot) than the least busy
  // group the group with the prefix may be and still get the request.
  explicit PrefixRouter(double max_extra_load = 0.5);

  // The group of `candidates` (the live groups of the request's model) for a prompt, and
  // remembers the prompt's blocks there. nullopt when there is no candidate. The chosen group
  // counts one more request in flight for later routes until submitted() says the request
  // reached it (so that concurrent routes do not all pick the same idle group).
  std::optional<Choice> route(const std::vector<GroupInfo>& candidates,
                              std::span<const TokenId> prompt, uint64_t salt,
                              std::string_view cache_key);
  // The request routed to `group_id` was submitted (or given up): its in-flight count now
  // shows in the group's GroupInfo.
  void submitted(uint64_t group_id);

 private:
  // What the router has sent to one group: block chain hashes, least recently sent first.
  struct Picture {
    std::string model;
    int64_t capacity = 0;
    std::list<uint64_t> order;
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> blocks;
  };
  static constexpr size_t kMaxCacheKeys = 65536;

  const double max_extra_load_;
  std::mutex mu_;
  std::map<uint64_t, Picture> pictures_;                  // by group id; GUARDED_BY(mu_)
  std::unordered_map<std::string, uint64_t> cache_keys_;  // key -> group id; GUARDED_BY(mu_)
  std::map<uint64_t, int64_t> routing_;  // routed, not yet submitted, by group; GUARDED_BY(mu_)
};

// The chain hashes of the full blocks of `tokens` (block_size tokens each), the first keyed by
// `salt`: block i's hash covers every token before its end.
std::vector<uint64_t> prompt_block_hashes(std::span<const TokenId> tokens, int64_t block_size,
                                          uint64_t salt);

}  // namespace shardserve
