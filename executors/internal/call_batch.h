// Several queued calls sent to one worker as one task: cf::Pool's answer to
// tiny apply_async calls, whose cost is otherwise the round trip, not the
// work.
//
// The one thing to know: each call keeps its own future and its own outcome
// (value or exception); the batch changes how calls travel, not what they
// return. When the batch fails as a whole (its worker died, it was
// cancelled), every call in it that has no outcome yet fails the same way:
// a worker killed mid-batch fails the calls of that batch, which is why
// cf::Pool batches only calls that were seen to be fast (internal/task_queue.h).
//
//   auto batch = std::make_shared<CallBatch>(std::move(calls));
//   executor_submit(batch);   // a WorkItem like any other
#ifndef CF_EXECUTORS_INTERNAL_CALL_BATCH_H_
#define CF_EXECUTORS_INTERNAL_CALL_BATCH_H_

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "executors/internal/work_item.h"
#include "executors/transport/remote_call.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

// In a worker: runs each encoded call of a batch through RunEncodedCall
// (so each is checked against the registry like a call of its own) and
// writes each outcome.
struct BatchEntry {
  static void Run(std::uintptr_t fn, InputArchive& in, std::string* out);
  static inline const bool registered = RegisterEntry(&Run);
};

class CallBatch final : public FutureState<void>, public WorkItem {
 public:
  explicit CallBatch(std::vector<std::shared_ptr<WorkItem>> calls);

  std::size_t size() const { return calls_.size(); }

  void Run(absl::FunctionRef<void()> computed) override;
  FutureStateBase& future() override { return *this; }
  void Drop() override;
  // A call whose arguments fail to serialize fails alone, here, and is left
  // out of the batch.
  void EncodeRemote(std::string* out) override;
  void SetRemoteResult(std::string_view bytes) override;

 private:
  // The batch failed or was cancelled as a whole: so do its calls.
  void PassOnFailure();

  std::vector<std::shared_ptr<WorkItem>> calls_;  // in the order sent
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_CALL_BATCH_H_
