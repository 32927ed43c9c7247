#include "futures/wait.h"

#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "futures/internal/blocking_hook.h"

namespace cf::internal {
namespace {

// Counts how many of the awaited futures became terminal, and how many of
// those raised; Python's _AllCompletedWaiter and friends in one.
class CountingWaiter final : public Waiter {
 public:
  CountingWaiter(const std::vector<FutureStateBase*>& futures,
                 ReturnWhen return_when, BlockingHook* hook)
      : futures_(futures),
        total_(futures.size()),
        return_when_(return_when),
        hook_(hook) {}

  void OnStatus(FutureStateBase& future, FutureStatus status) override {
    if (!IsTerminal(status)) return;
    Count(future);
    if (hook_ != nullptr) hook_->Wake();
  }

  void Count(FutureStateBase& future) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++terminal_;
      if (future.raised()) ++raised_;
    }
    cv_.notify_all();
  }

  bool Satisfied() {
    std::lock_guard<std::mutex> lock(mu_);
    return SatisfiedLocked();
  }

  bool Block(const Deadline& deadline) {
    if (hook_ != nullptr) {
      hook_->BlockUntil([this] { return Satisfied(); },
                        [this](const FutureStateBase& f) {
                          for (FutureStateBase* mine : futures_) {
                            if (mine == &f) return true;
                          }
                          return false;
                        });
      return true;
    }
    std::unique_lock<std::mutex> lock(mu_);
    return deadline.WaitOn(cv_, lock, [this] { return SatisfiedLocked(); });
  }

  bool valid() const {
    return return_when_ == ReturnWhen::kFirstCompleted ||
           return_when_ == ReturnWhen::kFirstException ||
           return_when_ == ReturnWhen::kAllCompleted;
  }

 private:
  bool SatisfiedLocked() const {
    if (terminal_ == total_) return true;
    switch (return_when_) {
      case ReturnWhen::kFirstCompleted:
        return terminal_ > 0;
      case ReturnWhen::kFirstException:
        return raised_ > 0;
      case ReturnWhen::kAllCompleted:
        return false;
    }
    return false;
  }

  const std::vector<FutureStateBase*>& futures_;
  const std::size_t total_;
  const ReturnWhen return_when_;
  BlockingHook* const hook_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t terminal_ = 0;
  std::size_t raised_ = 0;
};

}  // namespace

std::vector<bool> WaitForFutures(const std::vector<FutureStateBase*>& futures,
                                 const Deadline& deadline,
                                 ReturnWhen return_when) {
  // Only a wait without a deadline runs queued calls (blocking_hook.h).
  BlockingHook* hook = deadline.infinite() ? BlockingHook::Current() : nullptr;
  CountingWaiter waiter(futures, return_when, hook);
  std::vector<FutureStateBase*> registered;
  for (FutureStateBase* f : futures) {
    if (IsTerminal(f->AddWaiter(&waiter))) {
      waiter.Count(*f);
    } else {
      registered.push_back(f);
    }
  }
  bool early = waiter.Satisfied();
  if (!early && !waiter.valid()) {
    for (FutureStateBase* f : registered) f->RemoveWaiter(&waiter);
    throw std::invalid_argument(
        absl::StrCat("Invalid return condition: ", static_cast<int>(return_when),
                     " (use cf::ReturnWhen::kFirstCompleted, kFirstException "
                     "or kAllCompleted)"));
  }
  if (!early) waiter.Block(deadline);
  for (FutureStateBase* f : registered) f->RemoveWaiter(&waiter);
  std::vector<bool> done;
  done.reserve(futures.size());
  for (FutureStateBase* f : futures) done.push_back(IsTerminal(f->status()));
  return done;
}

}  // namespace cf::internal
