#include "futures/as_completed.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "futures/errors.h"
#include "futures/internal/blocking_hook.h"

namespace cf::internal {

AsCompletedCore::AsCompletedCore(
    std::vector<std::shared_ptr<FutureStateBase>> futures,
    absl::Duration timeout)
    : timeout_(timeout) {
  absl::flat_hash_set<FutureStateBase*> seen;
  for (auto& f : futures) {
    FutureStateBase* raw = f.get();
    if (!seen.insert(raw).second) continue;  // each future once
    ++total_;
    if (IsTerminal(f->AddWaiter(this))) {
      ready_.push_back(std::move(f));
    } else {
      pending_.emplace(raw, std::move(f));
    }
  }
}

AsCompletedCore::~AsCompletedCore() {
  for (auto& [raw, future] : pending_) future->RemoveWaiter(this);
}

void AsCompletedCore::OnStatus(FutureStateBase& future, FutureStatus status) {
  if (!IsTerminal(status)) return;
  // All under mu_: once the consumer has taken the last future it may
  // destroy this range, so nothing may touch it after the lock is released.
  std::lock_guard<std::mutex> lock(mu_);
  completed_.push_back(&future);
  cv_.notify_all();
  if (blocked_hook_ != nullptr) blocked_hook_->Wake();
}

std::shared_ptr<FutureStateBase> AsCompletedCore::Next() {
  if (!started_) {
    started_ = true;
    deadline_ = Deadline::After(timeout_);
  }
  auto take_completed = [this] {
    std::vector<FutureStateBase*> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done.swap(completed_);
    }
    for (FutureStateBase* raw : done) {
      auto it = pending_.find(raw);
      ready_.push_back(std::move(it->second));
      pending_.erase(it);
    }
  };
  take_completed();
  if (ready_.empty() && !pending_.empty()) {
    BlockingHook* hook = BlockingHook::Current();
    if (hook != nullptr && deadline_.infinite()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        blocked_hook_ = hook;
      }
      hook->BlockUntil(
          [this] {
            std::lock_guard<std::mutex> lock(mu_);
            return !completed_.empty();
          },
          [this](const FutureStateBase& f) {
            return pending_.contains(const_cast<FutureStateBase*>(&f));
          });
      std::lock_guard<std::mutex> lock(mu_);
      blocked_hook_ = nullptr;
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      deadline_.WaitOn(cv_, lock, [this] { return !completed_.empty(); });
    }
    take_completed();
    if (ready_.empty()) {
      throw TimeoutError(absl::StrCat(pending_.size(), " (of ", total_,
                                      ") futures unfinished"));
    }
  }
  if (ready_.empty()) return nullptr;
  std::shared_ptr<FutureStateBase> next = std::move(ready_.front());
  ready_.pop_front();
  return next;
}

}  // namespace cf::internal
