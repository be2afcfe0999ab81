// World ranks of one mpirun job -> worker groups.

#include <set>

#include "config/cluster_config.h"

namespace shardserve {

Result<std::vector<GroupPlacement>> place_groups(const ClusterConfig& config, int world_size,
                                                 const std::vector<std::string>& only_groups) {
  std::set<std::string, std::less<>> wanted;
  for (const std::string& name : only_groups) {
    if (!config.find_group(name)) {
      std::string known;
      for (const GroupConfig& g : config.groups) known += (known.empty() ? "" : ", ") + g.name;
      return Error{config.source + ": no group named \"" + name + "\" (groups: " + known + ")"};
    }
    if (!wanted.insert(name).second)
      return Error{config.source + ": group \"" + name + "\" is selected twice"};
  }

  std::vector<GroupPlacement> placements;
  std::string sum;  // "a (tp 2) + b (tp 4)"
  int64_t next = 0;
  for (size_t i = 0; i < config.groups.size(); ++i) {
    const GroupConfig& g = config.groups[i];
    if (!wanted.empty() && !wanted.count(g.name)) continue;
    placements.push_back({static_cast<int>(i), static_cast<int>(next), g.tp});
    sum += (sum.empty() ? "" : " + ") + g.name + " (tp " + std::to_string(g.tp) + ")";
    next += g.tp;
  }
  if (placements.empty()) return Error{config.source + ": no groups to place"};
  if (next != world_size) {
    return Error{config.source + ": the mpirun job has " + std::to_string(world_size) +
                 " ranks but the groups it runs need " + std::to_string(next) + ": " + sum +
                 "; start it with mpirun -np " + std::to_string(next)};
  }
  return placements;
}

const GroupPlacement* placement_of_rank(const std::vector<GroupPlacement>& placements,
                                        int world_rank) {
  for (const GroupPlacement& p : placements)
    if (world_rank >= p.first_rank && world_rank < p.first_rank + p.tp) return &p;
  return nullptr;
}

}  // namespace shardserve
