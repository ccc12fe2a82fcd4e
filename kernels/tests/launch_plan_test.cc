// Unit test of the CUDA launch planner: every (tensor, chunk) exactly once, limits respected.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>
#include <vector>

#include "kernels/csrc/launch_plan.h"

namespace {

int failures = 0;

void check(bool ok, const char* what, int line) {
  if (!ok) {
    std::fprintf(stderr, "line %d: %s\n", line, what);
    ++failures;
  }
}
#define CHECK(...) check((__VA_ARGS__), #__VA_ARGS__, __LINE__)

void check_plan(const std::vector<int64_t>& sizes, int depth, int64_t chunk, int max_blocks) {
  using apk::plan::Launch;
  const auto plan = apk::plan::plan_launches(sizes.data(), static_cast<int64_t>(sizes.size()), depth, chunk, max_blocks);
  std::map<std::pair<int64_t, int64_t>, int> seen;
  for (const Launch& l : plan) {
    CHECK(!l.blocks.empty());
    CHECK(static_cast<int>(l.blocks.size()) <= max_blocks);
    CHECK(static_cast<int>(l.tensors.size()) <= apk::plan::max_tensors(depth));
    for (const auto& b : l.blocks) {
      CHECK(b.slot >= 0 && b.slot < static_cast<int>(l.tensors.size()));
      const int64_t t = l.tensors[b.slot];
      CHECK(b.chunk >= 0 && b.chunk * chunk < sizes[t]);
      ++seen[{t, b.chunk}];
    }
  }
  int64_t expected = 0;
  for (int64_t t = 0; t < static_cast<int64_t>(sizes.size()); ++t) {
    const int64_t nch = apk::plan::chunks_of(sizes[t], chunk);
    expected += nch;
    for (int64_t c = 0; c < nch; ++c) CHECK(seen[{t, c}] == 1);
  }
  CHECK(static_cast<int64_t>(seen.size()) == expected);
  const auto bases = apk::plan::chunk_bases(sizes.data(), static_cast<int64_t>(sizes.size()), chunk);
  CHECK(bases.back() == expected);
}

}  // namespace

int main() {
  check_plan({1}, 4, 65536, 320);
  check_plan({0, 0, 5}, 4, 65536, 320);
  check_plan({100000000}, 5, 65536, 320);  // one tensor spread over many launches
  std::vector<int64_t> many(1000, 4096);   // many small tensors: tensor-slot bound
  check_plan(many, 4, 65536, 320);
  for (int depth = 2; depth <= 5; ++depth) {
    std::vector<int64_t> mixed;
    for (int i = 0; i < 300; ++i) mixed.push_back((i * 7919) % 200000);
    check_plan(mixed, depth, 65536, 320);
    check_plan(mixed, depth, 1000, 7);  // tiny limits exercise every carry-over path
  }
  // The carried-over tensor lands in slot 0 of the next launch.
  const std::vector<int64_t> two = {10 * 65536, 3};
  const auto plan = apk::plan::plan_launches(two.data(), 2, 4, 65536, 4);
  CHECK(plan.size() == 3);
  CHECK(plan[1].tensors[0] == 0 && plan[2].tensors[0] == 0);
  CHECK(plan[2].tensors.size() == 2 && plan[2].tensors[1] == 1);
  if (failures) return 1;
  std::printf("launch_plan_test: ok\n");
  return 0;
}
