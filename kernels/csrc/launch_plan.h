// Host-side launch planning for the CUDA multi-tensor apply. Plain C++ so the module exposes it
// to Python tests on machines without a GPU (and without nvcc).
//
// Each launch gets a by-value metadata struct (CUDA's 4 KB kernel-parameter limit): up to
// max_tensors(depth) tensor slots and kMaxBlocks (slot, chunk) blocks. A tensor whose chunks do
// not all fit continues in slot 0 of the next launch.
#pragma once

#include <cstdint>
#include <vector>

namespace apk::plan {

constexpr int64_t kCudaChunk = 65536;  // elements per block
constexpr int kMaxBlocks = 320;         // blocks per launch

constexpr int max_tensors(int depth) {
  return depth <= 2 ? 64 : depth == 3 ? 48 : depth == 4 ? 36 : 30;
}

struct Block {
  int slot;
  int64_t chunk;
};

struct Launch {
  std::vector<int64_t> tensors;  // slot -> tensor index
  std::vector<Block> blocks;
};

inline int64_t chunks_of(int64_t size, int64_t chunk) { return (size + chunk - 1) / chunk; }

inline std::vector<Launch> plan_launches(const int64_t* sizes, int64_t n, int depth,
                                         int64_t chunk = kCudaChunk, int max_blocks = kMaxBlocks) {
  const int cap = max_tensors(depth);
  std::vector<Launch> out;
  Launch cur;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t nch = chunks_of(sizes[t], chunk);
    if (nch == 0) continue;
    int slot = static_cast<int>(cur.tensors.size());
    cur.tensors.push_back(t);
    for (int64_t c = 0; c < nch; ++c) {
      cur.blocks.push_back({slot, c});
      const bool last_chunk = c == nch - 1;
      const bool full = static_cast<int>(cur.blocks.size()) == max_blocks ||
                        (static_cast<int>(cur.tensors.size()) == cap && last_chunk);
      if (full) {
        out.push_back(std::move(cur));
        cur = Launch{};
        if (!last_chunk) {  // carry the unfinished tensor into slot 0
          cur.tensors.push_back(t);
          slot = 0;
        }
      }
    }
  }
  if (!cur.blocks.empty()) out.push_back(std::move(cur));
  return out;
}

// Global index of each tensor's first chunk (per-chunk reduction workspace layout).
inline std::vector<int64_t> chunk_bases(const int64_t* sizes, int64_t n, int64_t chunk = kCudaChunk) {
  std::vector<int64_t> base(n + 1, 0);
  for (int64_t t = 0; t < n; ++t) base[t + 1] = base[t] + chunks_of(sizes[t], chunk);
  return base;
}

}  // namespace apk::plan
