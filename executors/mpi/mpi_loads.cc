#include "executors/mpi/mpi_loads.h"

#include <utility>

namespace cf::internal {
namespace {

constexpr std::size_t kSafeDepth = 2;
constexpr std::size_t kStreakDepth = 32;
constexpr int kStreakToPipeline = 4;
constexpr absl::Duration kFastCall = absl::Microseconds(300);
constexpr absl::Duration kLongCall = absl::Milliseconds(5);

}  // namespace

std::size_t WorkerLoads::Depth(const Load& load, absl::Time now) const {
  if (load.fast_streak >= kStreakToPipeline) return kStreakDepth;
  if (!load.calls.empty() && now - load.busy_since > kLongCall) return 1;
  return kSafeDepth;
}

std::size_t WorkerLoads::Room(absl::Time now) const {
  std::size_t room = 0;
  for (const Load& load : loads_) {
    const std::size_t depth = Depth(load, now);
    if (load.calls.size() < depth) room += depth - load.calls.size();
  }
  return room;
}

int WorkerLoads::Pick(absl::Time now) const {
  int best = -1;
  for (int w = 0; w < static_cast<int>(loads_.size()); ++w) {
    const std::size_t held = loads_[w].calls.size();
    if (held >= Depth(loads_[w], now)) continue;
    if (best < 0 || held < loads_[best].calls.size()) best = w;
  }
  return best;
}

void WorkerLoads::Hold(int worker, Call call, absl::Time now) {
  Load& load = loads_.at(static_cast<std::size_t>(worker));
  if (load.calls.empty()) load.busy_since = now;
  load.calls.push_back(std::move(call));
  ++held_;
}

std::optional<WorkerLoads::Call> WorkerLoads::Answered(int worker,
                                                       std::uint64_t id,
                                                       absl::Duration run,
                                                       absl::Time now,
                                                       absl::Duration* took) {
  if (worker < 0 || worker >= static_cast<int>(loads_.size())) {
    return std::nullopt;
  }
  Load& load = loads_[static_cast<std::size_t>(worker)];
  if (load.calls.empty() || load.calls.front().id != id) return std::nullopt;
  Call call = std::move(load.calls.front());
  load.calls.pop_front();
  --held_;
  *took = now - load.busy_since;
  load.busy_since = now;
  load.fast_streak = run < kFastCall ? load.fast_streak + 1 : 0;
  return call;
}

std::vector<WorkerLoads::Call> WorkerLoads::TakeAll() {
  std::vector<Call> all;
  for (Load& load : loads_) {
    for (Call& call : load.calls) all.push_back(std::move(call));
    load.calls.clear();
  }
  held_ = 0;
  return all;
}

}  // namespace cf::internal
