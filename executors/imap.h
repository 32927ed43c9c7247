// cf::IMapIterator<E>: what cf::Pool's imap (in input order) and
// imap_unordered (in completion order) return, Python's IMapIterator.
//
// The one thing to know: it is lazy but starts at once. imap() sends the
// first .buffersize tasks (chunks of .chunksize inputs) before it returns,
// and each result consumed lets one more input in, so an endless input range
// never fills memory. Iterate it with range-for, or step with next(timeout)
// as Python's it.next(timeout). One thread consumes it. A task's exception
// is rethrown at its position and iteration may go on, as in Python.
// Destroying it stops sending inputs; tasks already sent still run.
//
//   for (int r : pool.imap_unordered(square, xs)) ...
//   auto it = pool.imap(square, xs, {.chunksize = 4});
//   std::optional<int> r = it.next(absl::Seconds(1));  // nullopt at the end;
//                                                      // or cf::TimeoutError
#ifndef CF_EXECUTORS_IMAP_H_
#define CF_EXECUTORS_IMAP_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "executors/internal/pool_chunk.h"
#include "executors/internal/work_item.h"
#include "executors/progress.h"
#include "executors/internal/result_iterator.h"
#include "futures/errors.h"
#include "futures/internal/deadline.h"

namespace cf {

namespace internal {

// An imap as its pool sees it: join() sends the rest of its inputs (Python
// had queued them all), terminate() stops it.
class IMapFeed {
 public:
  virtual ~IMapFeed() = default;
  virtual void SendRest() = 0;
  virtual void Detach() = 0;
};

template <class E>
class IMapState final : public IMapFeed,
                        public std::enable_shared_from_this<IMapState<E>> {
 public:
  using Chunk = std::shared_ptr<ChunkResults<E>>;
  // The next chunk made from the input, and the task to send for it (null
  // when the chunk failed before it could be sent); nullopt at the end.
  struct Next {
    Chunk results;
    std::shared_ptr<WorkItem> task;
  };
  using Source = absl::AnyInvocable<std::optional<Next>()>;
  // Sends tasks, in order.
  using Sender =
      absl::AnyInvocable<void(std::vector<std::shared_ptr<WorkItem>>)>;

  IMapState(bool ordered, std::size_t window, Source source, Sender sender)
      : ordered_(ordered),
        window_(window),
        source_(std::move(source)),
        sender_(std::move(sender)) {}

  void SendRest() override { TopUp(/*all=*/true); }

  void Detach() override {
    std::lock_guard<std::mutex> send_lock(send_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    detached_ = true;
    sender_ = nullptr;
    source_ = nullptr;  // the input's views may refer to the pool's caller
    cv_.notify_all();
  }

  // Sends inputs until .buffersize tasks are unconsumed (all of them: join).
  void TopUp(bool all = false) {
    std::lock_guard<std::mutex> send_lock(send_mu_);
    std::vector<std::shared_ptr<WorkItem>> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (!exhausted_ && !detached_ && (all || outstanding_ < window_)) {
        std::optional<Next> next;
        try {
          next = source_();
        } catch (...) {
          // Python delivers an exception from the input as a result.
          next = Next{ChunkResults<E>::Failed(std::current_exception()), nullptr};
          exhausted_ = true;
        }
        if (!next.has_value()) {
          exhausted_ = true;
          break;
        }
        ++outstanding_;
        if (ordered_) {
          submitted_.push_back(next->results);
        } else if (next->results->done()) {  // failed already: not sent
          completed_.push_back(next->results);
        } else {  // not sent yet: it cannot complete before the callback is in
          std::weak_ptr<IMapState> weak = this->weak_from_this();
          next->results->AddDoneCallback(
              [weak](FutureStateBase& done) {
                if (std::shared_ptr<IMapState> self = weak.lock()) {
                  self->OnCompleted(std::static_pointer_cast<ChunkResults<E>>(
                      done.shared_from_this()));
                }
              });
        }
        if (next->task != nullptr) tasks.push_back(std::move(next->task));
      }
    }
    if (!tasks.empty()) sender_(std::move(tasks));
  }

  // The next chunk to yield from, waiting until `deadline`; null at the end.
  // Throws cf::TimeoutError (nothing consumed), or std::invalid_argument("Pool
  // not running") once, for inputs that terminate() left unsent.
  Chunk NextChunk(const Deadline& deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (outstanding_ == 0) {
        if (exhausted_) return nullptr;
        if (detached_) {
          exhausted_ = true;
          throw std::invalid_argument("Pool not running");
        }
        lock.unlock();
        TopUp();
        lock.lock();
        continue;
      }
      if (ordered_) {
        Chunk chunk = submitted_.front();
        lock.unlock();
        if (!chunk->Wait(deadline)) throw TimeoutError();
        lock.lock();
        submitted_.pop_front();
        return Consumed(std::move(chunk), lock);
      }
      if (!completed_.empty()) {
        Chunk chunk = std::move(completed_.front());
        completed_.pop_front();
        return Consumed(std::move(chunk), lock);
      }
      if (!deadline.WaitOn(cv_, lock, [this] { return !completed_.empty(); })) {
        throw TimeoutError();
      }
    }
  }

  // No chunk left to yield; never waits for a task.
  bool AtEnd() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (outstanding_ > 0) return false;
      if (exhausted_) return true;
      if (detached_) return false;  // NextChunk says why
    }
    TopUp();
    std::lock_guard<std::mutex> lock(mu_);
    return outstanding_ == 0 && exhausted_;
  }

 private:
  void OnCompleted(Chunk chunk) {
    std::lock_guard<std::mutex> lock(mu_);
    completed_.push_back(std::move(chunk));
    cv_.notify_one();
  }

  // Tops up once half the window is consumed: tasks leave in groups.
  Chunk Consumed(Chunk chunk, std::unique_lock<std::mutex>& lock) {
    --outstanding_;
    const bool top_up = outstanding_ * 2 <= window_;
    lock.unlock();
    if (top_up) TopUp();
    return chunk;
  }

  const bool ordered_;
  const std::size_t window_;
  std::mutex send_mu_;  // held while sending: Detach waits for it
  std::mutex mu_;
  std::condition_variable cv_;
  Source source_;
  Sender sender_;
  std::deque<Chunk> submitted_;  // ordered: sent, not consumed, in order
  std::deque<Chunk> completed_;  // unordered: done, not consumed
  std::size_t outstanding_ = 0;  // sent, not consumed
  bool exhausted_ = false;
  bool detached_ = false;
};

}  // namespace internal

template <class E>
class IMapIterator {
 public:
  using iterator = internal::ResultIterator<IMapIterator, E>;

  // For cf::Pool.
  IMapIterator(std::shared_ptr<internal::IMapState<E>> state,
               std::unique_ptr<ProgressBar> bar)
      : state_(std::move(state)), bar_(std::move(bar)) {}
  IMapIterator(IMapIterator&&) noexcept = default;
  IMapIterator& operator=(IMapIterator&&) = delete;
  ~IMapIterator() {
    if (state_ != nullptr) state_->Detach();
  }

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

  // Python's next(timeout): the next result, or nullopt at the end. Throws
  // cf::TimeoutError when none is ready in time (nothing is consumed), and
  // rethrows a task's exception (that position is consumed).
  std::optional<E> next(absl::Duration timeout = absl::InfiniteDuration()) {
    if (!Fetch(internal::Deadline::After(timeout))) return std::nullopt;
    const std::size_t i = index_++;
    taken_ = false;
    Count();
    if (std::exception_ptr e = chunk_->error(i)) std::rethrow_exception(e);
    return chunk_->take(i);
  }

 private:
  friend iterator;
  // Makes sure chunk_[index_] is the next position; false at the end.
  bool Fetch(const internal::Deadline& deadline) {
    if (chunk_ != nullptr && index_ < chunk_->size()) return true;
    chunk_ = nullptr;
    chunk_ = state_->NextChunk(deadline);
    index_ = 0;
    return chunk_ != nullptr;
  }

  E Current() {
    if (taken_) {
      throw std::logic_error(
          "cf::IMapIterator: this position's result was already taken; "
          "advance the iterator");
    }
    if (!Fetch(internal::Deadline::Never())) {
      throw std::out_of_range("cf::IMapIterator: no result past the end");
    }
    taken_ = true;
    if (std::exception_ptr e = chunk_->error(index_)) std::rethrow_exception(e);
    return chunk_->take(index_);
  }

  void Advance() {
    if (!taken_ && !Fetch(internal::Deadline::Never())) return;
    ++index_;
    taken_ = false;
    Count();
  }

  bool AtEnd() {
    if (chunk_ != nullptr && index_ < chunk_->size()) return false;
    return state_->AtEnd();
  }

  void Count() {
    if (bar_ == nullptr) return;
    bar_->update(1);
    if (AtEnd()) bar_->close();
  }

  std::shared_ptr<internal::IMapState<E>> state_;
  std::unique_ptr<ProgressBar> bar_;
  std::shared_ptr<internal::ChunkResults<E>> chunk_;  // being consumed
  std::size_t index_ = 0;  // next unread position in chunk_
  bool taken_ = false;     // the position at index_ was handed over
};

}  // namespace cf

#endif  // CF_EXECUTORS_IMAP_H_
