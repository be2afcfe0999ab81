// A CUDA thread block emulated on the CPU, for testing device code compiled as host code where no
// GPU exists (model/cuda/attention_emulated_test.cc, model/cuda/quant_gemv_emulated_test.cc).
//
// Each thread of a block is a fiber (ucontext) with its own stack; the scheduler runs every
// runnable fiber until it yields, at a block barrier (sync_block, for __syncthreads) or at a warp
// step (sync_warp, for __syncwarp, and each half of a shuffle). A block barrier releases when
// every thread of the block waits at one; a warp step releases when all 32 lanes of a warp wait at
// one. A thread that skips a barrier that others wait at leaves them stuck: run_block reports it.
// Shared memory is a host buffer filled with NaN bytes before each block; every 16-byte load or
// store is checked for alignment and for lying inside shared memory or a registered global range.
//
// What this checks: indexing, tiling, uniform barriers, reductions. What it does not: timing, the
// memory model, launch limits, anything only hardware shows.
//
// Single-threaded: one emulated block at a time per process (the state below is global).
#pragma once

#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace shardserve::gpu::emu {

enum class Wait { kRunnable, kBlock, kWarp, kDone };

struct Dim {
  unsigned x = 0, y = 0, z = 0;
};

struct Fiber {
  ucontext_t context;
  std::vector<char> stack;
  Wait wait = Wait::kRunnable;
};

struct Block {
  std::vector<Fiber>& fibers;
  ucontext_t scheduler;
  int current = 0;
  std::function<void()> body;
  uint32_t lanes[32][32];  // [warp][lane]: the 4-byte values exchanged by a shuffle
};

inline Block* block = nullptr;
inline Dim thread_index, block_index, grid_dim;
inline unsigned char* shared = nullptr;
inline size_t shared_bytes = 0;
// Global memory 16-byte accesses may touch: [begin, end) ranges.
inline std::vector<std::pair<const char*, const char*>> global_ranges;

inline void yield(Wait why) {
  Fiber& f = block->fibers[block->current];
  f.wait = why;
  swapcontext(&f.context, &block->scheduler);
}

inline void fiber_main() {
  block->body();
  block->fibers[block->current].wait = Wait::kDone;
}  // returns to the scheduler through uc_link

// Runs `body` as n threads of one block; empty, or why the threads did not meet at their
// barriers.
inline std::string run_block(int n, const std::function<void()>& body) {
  static std::vector<Fiber> fibers;  // stacks reused by every block
  fibers.resize(n);
  Block b{fibers};
  b.body = body;
  block = &b;
  for (Fiber& f : b.fibers) {
    f.stack.resize(128 * 1024);
    f.wait = Wait::kRunnable;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.data();
    f.context.uc_stack.ss_size = f.stack.size();
    f.context.uc_link = &b.scheduler;
    makecontext(&f.context, fiber_main, 0);
  }
  for (;;) {
    for (int i = 0; i < n; ++i) {
      if (b.fibers[i].wait != Wait::kRunnable) continue;
      b.current = i;
      thread_index = {static_cast<unsigned>(i), 0, 0};
      swapcontext(&b.scheduler, &b.fibers[i].context);
    }
    int done = 0, at_block = 0;
    for (const Fiber& f : b.fibers) {
      done += f.wait == Wait::kDone;
      at_block += f.wait == Wait::kBlock;
    }
    if (done == n) break;
    bool released = false;
    for (int w = 0; w * 32 < n; ++w) {
      bool all = true;
      for (int l = 0; l < 32; ++l) all = all && b.fibers[w * 32 + l].wait == Wait::kWarp;
      if (all) {
        for (int l = 0; l < 32; ++l) b.fibers[w * 32 + l].wait = Wait::kRunnable;
        released = true;
      }
    }
    if (!released && at_block == n) {
      for (Fiber& f : b.fibers) f.wait = Wait::kRunnable;
      released = true;
    }
    if (!released) {
      block = nullptr;
      return "threads stuck: " + std::to_string(done) + " done, " + std::to_string(at_block) +
             " at __syncthreads, the rest at a warp shuffle";
    }
  }
  block = nullptr;
  return "";
}

inline void check_access(const void* p, const char* what) {
  const char* c = static_cast<const char*>(p);
  if (reinterpret_cast<uintptr_t>(c) % 16 != 0) {
    std::fprintf(stderr, "%s of 16 bytes at a misaligned address\n", what);
    std::abort();
  }
  if (c >= reinterpret_cast<const char*>(shared) &&
      c + 16 <= reinterpret_cast<const char*>(shared) + shared_bytes)
    return;
  for (const auto& [begin, end] : global_ranges)
    if (c >= begin && c + 16 <= end) return;
  std::fprintf(stderr, "%s of 16 bytes outside shared memory and the cache\n", what);
  std::abort();
}

// __syncthreads and __syncwarp of the running thread.
inline void sync_block() {
  yield(Wait::kBlock);
}
inline void sync_warp() {
  yield(Wait::kWarp);
}

// __shfl_xor_sync(0xffffffff, v, offset) for a 4-byte v: every lane of the warp must call it.
template <typename T>
T shuffle_xor(T v, int offset) {
  static_assert(sizeof(T) == 4, "shuffles exchange 4-byte values");
  const int lane = block->current % 32, warp = block->current / 32;
  std::memcpy(&block->lanes[warp][lane], &v, 4);
  yield(Wait::kWarp);
  T other;
  std::memcpy(&other, &block->lanes[warp][lane ^ offset], 4);
  yield(Wait::kWarp);
  return other;
}

// Runs `body` as a grid of grid_x * grid_y blocks of n_threads, one block after another, each
// with smem_bytes of NaN-filled shared memory; empty, or the first block's failure.
inline std::string launch(unsigned grid_x, unsigned grid_y, int n_threads, size_t smem_bytes,
                          const std::function<void()>& body) {
  struct alignas(16) Chunk {
    unsigned char bytes[16];
  };
  std::vector<Chunk> smem((smem_bytes + 15) / 16 + 1);
  grid_dim = {grid_x, grid_y, 1};
  for (unsigned y = 0; y < grid_y; ++y)
    for (unsigned x = 0; x < grid_x; ++x) {
      std::memset(smem.data(), 0xff, smem.size() * 16);  // NaN in f16 and f32
      shared = reinterpret_cast<unsigned char*>(smem.data());
      shared_bytes = smem_bytes;
      block_index = {x, y, 0};
      std::string failure = run_block(n_threads, body);
      if (!failure.empty())
        return "block (" + std::to_string(x) + ", " + std::to_string(y) + "): " + failure;
    }
  return "";
}

}  // namespace shardserve::gpu::emu
