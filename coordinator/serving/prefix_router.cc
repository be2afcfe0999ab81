#include "coordinator/serving/prefix_router.h"

#include <algorithm>

#include "base/hash.h"

namespace shardserve {

namespace {

double load_of(const GroupInfo& g) {  // in-flight requests per batch slot
  return static_cast<double>(g.in_flight) /
         static_cast<double>(std::max<int64_t>(1, g.hello.max_batch));
}

}  // namespace

const char* PrefixRouter::reason_name(Reason reason) {
  switch (reason) {
    case Reason::kPrefix:
      return "prefix";
    case Reason::kCacheKey:
      return "cache_key";
    case Reason::kLoad:
      return "load";
  }
  return "load";
}

std::vector<uint64_t> prompt_block_hashes(std::span<const TokenId> tokens, int64_t block_size,
                                          uint64_t salt) {
  std::vector<uint64_t> hashes;
  if (block_size <= 0) return hashes;
  uint64_t h = mix64(salt ^ 0x5bd1e9955bd1e995ull);
  for (size_t end = static_cast<size_t>(block_size); end <= tokens.size();
       end += static_cast<size_t>(block_size)) {
    for (size_t i = end - static_cast<size_t>(block_size); i < end; ++i)
      h = mix64(h ^
                (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])) + 0x9E3779B97F4A7C15ull));
    hashes.push_back(h);
  }
  return hashes;
}

PrefixRouter::PrefixRouter(double max_extra_load) : max_extra_load_(max_extra_load) {}

std::optional<PrefixRouter::Choice> PrefixRouter::route(const std::vector<GroupInfo>& candidates_in,
                                                        std::span<const TokenId> prompt,
                                                        uint64_t salt, std::string_view cache_key) {
  if (candidates_in.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  // Requests routed but not submitted yet count as in flight.
  std::vector<GroupInfo> candidates = candidates_in;
  for (GroupInfo& g : candidates)
    if (auto it = routing_.find(g.id); it != routing_.end()) g.in_flight += it->second;
  const GroupInfo& idlest = *std::min_element(candidates.begin(), candidates.end(), less_busy);
  const double ceiling = load_of(idlest) + max_extra_load_;

  // Forget this model's groups that are gone (a restarted group has a new id and an empty
  // cache).
  const std::string& model = candidates.front().hello.model;
  for (auto it = pictures_.begin(); it != pictures_.end();) {
    const bool gone = it->second.model == model &&
                      std::none_of(candidates.begin(), candidates.end(),
                                   [&](const GroupInfo& g) { return g.id == it->first; });
    it = gone ? pictures_.erase(it) : std::next(it);
  }

  std::optional<Choice> choice;
  std::map<int64_t, std::vector<uint64_t>> hashes_by_block_size;
  auto hashes_for = [&](const GroupInfo& g) -> const std::vector<uint64_t>& {
    auto [it, added] = hashes_by_block_size.try_emplace(g.hello.block_size);
    if (added) it->second = prompt_block_hashes(prompt, g.hello.block_size, salt);
    return it->second;
  };

  if (!cache_key.empty()) {
    auto it = cache_keys_.find(std::string(cache_key));
    if (it != cache_keys_.end()) {
      for (const GroupInfo& g : candidates)
        if (g.id == it->second && load_of(g) <= ceiling) choice = Choice{g, Reason::kCacheKey, 0};
    }
  }
  if (!choice) {
    const GroupInfo* best = nullptr;
    int64_t best_blocks = 0;
    for (const GroupInfo& g : candidates) {
      auto p = pictures_.find(g.id);
      if (p == pictures_.end() || load_of(g) > ceiling) continue;
      int64_t n = 0;
      for (uint64_t h : hashes_for(g)) {
        if (!p->second.blocks.count(h)) break;
        ++n;
      }
      const int64_t tokens = n * g.hello.block_size;
      if (tokens > best_blocks || (tokens == best_blocks && tokens > 0 && less_busy(g, *best))) {
        best = &g;
        best_blocks = tokens;
      }
    }
    if (best && best_blocks > 0) choice = Choice{*best, Reason::kPrefix, best_blocks};
  }
  if (!choice) choice = Choice{idlest, Reason::kLoad, 0};

  // Remember what the chosen group now holds (and the key's group).
  Picture& picture = pictures_[choice->group.id];
  picture.model = model;
  picture.capacity = std::max<int64_t>(1, choice->group.hello.kv_blocks);
  for (uint64_t h : hashes_for(choice->group)) {
    auto it = picture.blocks.find(h);
    if (it != picture.blocks.end()) {
      picture.order.splice(picture.order.end(), picture.order, it->second);
      continue;
    }
    picture.order.push_back(h);
    picture.blocks.emplace(h, std::prev(picture.order.end()));
    if (static_cast<int64_t>(picture.blocks.size()) > picture.capacity) {
      picture.blocks.erase(picture.order.front());
      picture.order.pop_front();
    }
  }
  if (!cache_key.empty()) {
    if (cache_keys_.size() >= kMaxCacheKeys) cache_keys_.clear();
    cache_keys_[std::string(cache_key)] = choice->group.id;
  }
  ++routing_[choice->group.id];
  return choice;
}

void PrefixRouter::submitted(uint64_t group_id) {
  std::lock_guard lock(mu_);
  auto it = routing_.find(group_id);
  if (it != routing_.end() && --it->second <= 0) routing_.erase(it);
}

}  // namespace shardserve
