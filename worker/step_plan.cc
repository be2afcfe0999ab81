#include "worker/step_plan.h"

#include <cstring>
#include <string>

namespace shardserve {
namespace {

constexpr uint32_t kMagic = 0x50545353;  // "SSTP"
constexpr uint16_t kVersion = 3;
constexpr uint8_t kChunkNeedLogits = 1, kChunkAllLogits = 2;
constexpr uint16_t kFlagShutdown = 1;

class Writer {
 public:
  template <typename T>
  void put(T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
  }
  std::vector<uint8_t> out;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : bytes_(b) {}
  template <typename T>
  bool get(T& v) {
    if (bytes_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<uint8_t> encode_step_plan(const StepPlan& plan) {
  Writer w;
  w.put(kMagic);
  w.put(kVersion);
  w.put(static_cast<uint16_t>(plan.shutdown ? kFlagShutdown : 0));
  w.put(plan.step_id);
  w.put(static_cast<uint32_t>(plan.chunks.size()));
  w.put(static_cast<uint32_t>(plan.released.size()));
  for (const PlannedChunk& c : plan.chunks) {
    w.put(c.seq);
    w.put(c.start_pos);
    w.put(static_cast<uint32_t>(c.tokens.size()));
    w.put(static_cast<uint8_t>((c.need_logits ? kChunkNeedLogits : 0) |
                               (c.all_logits ? kChunkAllLogits : 0)));
    for (int32_t t : c.tokens) w.put(t);
    w.put(static_cast<uint32_t>(c.blocks.size()));
    for (int32_t b : c.blocks) w.put(b);
  }
  for (int64_t s : plan.released) w.put(s);
  return std::move(w.out);
}

Result<StepPlan> decode_step_plan(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  uint32_t magic = 0, n_chunks = 0, n_released = 0;
  uint16_t version = 0, flags = 0;
  StepPlan plan;
  if (!r.get(magic) || magic != kMagic) return Error{"step plan: bad magic"};
  if (!r.get(version) || version != kVersion)
    return Error{"step plan: version " + std::to_string(version) + ", expected " +
                 std::to_string(kVersion) + " (ranks run different shardserve builds?)"};
  if (!r.get(flags) || !r.get(plan.step_id) || !r.get(n_chunks) || !r.get(n_released))
    return Error{"step plan: truncated header"};
  plan.shutdown = (flags & kFlagShutdown) != 0;
  // Each chunk takes at least 29 bytes, each released id 8: bound counts by the size.
  if (n_chunks > r.remaining() / 29 || n_released > r.remaining() / 8)
    return Error{"step plan: counts exceed the message size"};
  plan.chunks.resize(n_chunks);
  for (PlannedChunk& c : plan.chunks) {
    uint32_t n_tokens = 0;
    uint8_t outputs = 0;
    if (!r.get(c.seq) || !r.get(c.start_pos) || !r.get(n_tokens) || !r.get(outputs))
      return Error{"step plan: truncated chunk"};
    if (n_tokens == 0 || n_tokens > r.remaining() / 4 || c.start_pos < 0 ||
        (outputs & ~(kChunkNeedLogits | kChunkAllLogits)) != 0)
      return Error{"step plan: bad chunk"};
    c.need_logits = (outputs & kChunkNeedLogits) != 0;
    c.all_logits = (outputs & kChunkAllLogits) != 0;
    c.tokens.resize(n_tokens);
    for (int32_t& t : c.tokens) r.get(t);
    uint32_t n_blocks = 0;
    if (!r.get(n_blocks) || n_blocks > r.remaining() / 4) return Error{"step plan: bad chunk"};
    c.blocks.resize(n_blocks);
    for (int32_t& b : c.blocks) {
      r.get(b);
      if (b < 0) return Error{"step plan: negative block id"};
    }
  }
  plan.released.resize(n_released);
  for (int64_t& s : plan.released)
    if (!r.get(s)) return Error{"step plan: truncated release list"};
  if (r.remaining() != 0) return Error{"step plan: trailing bytes"};
  return plan;
}

}  // namespace shardserve
