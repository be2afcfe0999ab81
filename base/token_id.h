// A token's index in a model's vocabulary: [0, n_vocab). Negative values are used only as
// "no token" markers where an interface says so.
#pragma once

#include <cstdint>

namespace shardserve {

using TokenId = int32_t;

}  // namespace shardserve
