// The thread that runs cf::Pool's callbacks (Python's Pool result-handler
// thread): apply_async's and map_async's `callback` and `error_callback`
// run here, one at a time, in the order their results arrived.
//
// The one thing to know: a callback that throws is reported on stderr and
// the thread goes on (Python's result handler dies there and the pool hangs);
// a callback that blocks delays every later callback, as in Python.
//
//   ResultHandler handler;
//   handler.Post([] { callback(value); result.set_result(value); });
//   handler.Drain();   // every job posted so far has run
#ifndef CF_EXECUTORS_INTERNAL_RESULT_HANDLER_H_
#define CF_EXECUTORS_INTERNAL_RESULT_HANDLER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "absl/functional/any_invocable.h"

namespace cf::internal {

class ResultHandler {
 public:
  ResultHandler() = default;
  ResultHandler(const ResultHandler&) = delete;
  ResultHandler& operator=(const ResultHandler&) = delete;
  // Runs what is queued, then ends the thread.
  ~ResultHandler();

  // Queues a job; the thread starts on the first one.
  void Post(absl::AnyInvocable<void()> job);

  // Returns once every job posted before the call has run. On the handler
  // thread itself (a callback calling join()), returns at once.
  void Drain();

  bool OnHandlerThread() const;

  // Reports a callback's exception on stderr; the pool goes on.
  static void ReportCallbackError(const char* which, std::exception_ptr e);

 private:
  void Main();

  mutable std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable drained_;
  std::deque<absl::AnyInvocable<void()>> jobs_;
  std::uint64_t posted_ = 0;  // jobs ever posted
  std::uint64_t done_ = 0;    // jobs run so far
  bool stopping_ = false;
  std::thread thread_;
  std::thread::id id_;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_RESULT_HANDLER_H_
