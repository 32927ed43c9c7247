// Gathers the chunks of one map_async into its result, by Python's rules
// (multiprocessing.pool.MapResult): ready only when every chunk is done;
// the value list in input order, or the first exception to arrive (in
// completion order; within a chunk, the first element's); then the
// callback or error_callback, then ready.
//
// The one thing to know: it watches chunks, never elements, so a map of
// 100,000 calls costs a few callbacks, not 100,000.
//
//   AsyncResult<std::vector<int>> r = MapChunks<int>(
//       fn, SplitItems(std::move(items), chunksize), no_extras, progress, {},
//       nullptr, [&](std::shared_ptr<WorkItem> c) { queue.Push(c, false); });
#ifndef CF_EXECUTORS_INTERNAL_MAP_COLLECTOR_H_
#define CF_EXECUTORS_INTERNAL_MAP_COLLECTOR_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <ranges>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "executors/async_result.h"
#include "executors/internal/pool_chunk.h"
#include "executors/internal/result_handler.h"
#include "executors/internal/work_item.h"
#include "executors/progress.h"
#include "futures/future.h"

namespace cf::internal {

template <class E>
class MapCollector : public std::enable_shared_from_this<MapCollector<E>> {
 public:
  // `handler` runs the callbacks (null: none are set); `bar` (may be null)
  // counts the elements of each chunk as it completes.
  MapCollector(std::size_t chunks, Future<std::vector<E>> result,
               AsyncOptions<std::vector<E>> callbacks, ResultHandler* handler,
               std::shared_ptr<ProgressBar> bar)
      : result_(std::move(result)),
        callbacks_(std::move(callbacks)),
        handler_(handler),
        bar_(std::move(bar)),
        chunks_(chunks),
        remaining_(chunks) {}

  // Watches chunk number `index` (0-based, in input order).
  void Watch(std::size_t index, const std::shared_ptr<ChunkResults<E>>& chunk) {
    chunk->AddDoneCallback(
        [self = this->shared_from_this(), index](FutureStateBase& done) {
          self->OnChunkDone(index, std::static_pointer_cast<ChunkResults<E>>(
                                       done.shared_from_this()));
        });
  }

 private:
  void OnChunkDone(std::size_t index, std::shared_ptr<ChunkResults<E>> chunk) {
    if (bar_ != nullptr) bar_->update(static_cast<std::int64_t>(chunk->size()));
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!first_error_) first_error_ = chunk->first_error();
      chunks_[index] = std::move(chunk);
      last = --remaining_ == 0;
    }
    if (last) Finish();
  }

  // Every chunk is done: this thread is the only one left here.
  void Finish() {
    if (bar_ != nullptr) bar_->close();
    if (first_error_) {
      if (handler_ != nullptr && callbacks_.error_callback) {
        handler_->Post([self = this->shared_from_this()] {
          try {
            self->callbacks_.error_callback(self->first_error_);
          } catch (...) {
            ResultHandler::ReportCallbackError("an error_callback",
                                               std::current_exception());
          }
          self->result_.set_exception(self->first_error_);
        });
      } else {
        result_.set_exception(first_error_);
      }
      chunks_.clear();
      return;
    }
    std::vector<E> values;
    std::size_t n = 0;
    for (const auto& chunk : chunks_) n += chunk->size();
    values.reserve(n);
    for (const auto& chunk : chunks_) chunk->TakeAll(values);
    chunks_.clear();
    if (handler_ != nullptr && callbacks_.callback) {
      handler_->Post([self = this->shared_from_this(),
                      values = std::move(values)]() mutable {
        try {
          self->callbacks_.callback(values);
        } catch (...) {
          ResultHandler::ReportCallbackError("a callback",
                                             std::current_exception());
        }
        self->result_.set_result(std::move(values));
      });
    } else {
      result_.set_result(std::move(values));
    }
  }

  Future<std::vector<E>> result_;
  AsyncOptions<std::vector<E>> callbacks_;
  ResultHandler* handler_;
  std::shared_ptr<ProgressBar> bar_;

  std::mutex mu_;
  std::vector<std::shared_ptr<ChunkResults<E>>> chunks_;  // by index, once done
  std::size_t remaining_;
  std::exception_ptr first_error_;
};

// `items` in chunks of `chunksize` (the last one shorter).
template <class Item>
std::vector<std::vector<Item>> SplitItems(std::vector<Item> items,
                                          std::size_t chunksize) {
  std::vector<std::vector<Item>> chunks;
  for (std::size_t begin = 0; begin < items.size(); begin += chunksize) {
    const std::size_t end = std::min(items.size(), begin + chunksize);
    chunks.emplace_back(std::make_move_iterator(items.begin() + begin),
                        std::make_move_iterator(items.begin() + end));
  }
  return chunks;
}

// The elements of `inputs`, made items by `make`, in chunks of
// `chunksize_for(n)`; a sized range is read once, straight into its chunks.
template <class Item, class R, class ChunkSize, class Make>
std::vector<std::vector<Item>> Chunked(R&& inputs, ChunkSize chunksize_for,
                                       Make make) {
  if constexpr (std::ranges::sized_range<R>) {
    const std::size_t n = static_cast<std::size_t>(std::ranges::size(inputs));
    const std::size_t size = static_cast<std::size_t>(chunksize_for(n));
    std::vector<std::vector<Item>> chunks;
    chunks.reserve((n + size - 1) / size);
    for (auto&& x : inputs) {
      if (chunks.empty() || chunks.back().size() == size) {
        chunks.emplace_back().reserve(std::min(size, n - (chunks.size() - 1) * size));
      }
      chunks.back().push_back(make(std::forward<decltype(x)>(x)));
    }
    return chunks;
  } else {
    std::vector<Item> items;
    for (auto&& x : inputs) items.push_back(make(std::forward<decltype(x)>(x)));
    const std::size_t size = static_cast<std::size_t>(chunksize_for(items.size()));
    return SplitItems(std::move(items), size);
  }
}

// A map as `chunks` of items, each chunk sent with `send`, gathered by a
// MapCollector into one result; `extras` go once with each chunk. Callbacks
// run on `handler` (needed only when a callback is set).
template <class E, class F, class Item, class Extras>
AsyncResult<std::vector<E>> MapChunks(
    const F& fn, std::vector<std::vector<Item>> chunks,
    std::shared_ptr<const Extras> extras, const Progress& progress,
    AsyncOptions<std::vector<E>> callbacks, ResultHandler* handler,
    absl::FunctionRef<void(std::shared_ptr<WorkItem>)> send) {
  using Chunk = PoolChunk<E, F, Item, Extras>;
  std::size_t n = 0;
  for (const auto& chunk : chunks) n += chunk.size();
  std::shared_ptr<ProgressBar> bar;
  if (progress.enabled()) {
    ProgressOptions options = progress.options();
    if (!options.total) options.total = static_cast<std::int64_t>(n);
    bar = std::make_shared<ProgressBar>(std::move(options));
  }
  Future<std::vector<E>> result;
  if (n == 0) {  // Python: ready at once, and no callback is called
    if (bar != nullptr) bar->close();
    result.set_result(std::vector<E>());
    return AsyncResult<std::vector<E>>(std::move(result));
  }
  const bool any_callback = callbacks.callback || callbacks.error_callback;
  auto collector = std::make_shared<MapCollector<E>>(
      chunks.size(), result, std::move(callbacks),
      any_callback ? handler : nullptr, bar);
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    auto chunk = std::make_shared<Chunk>(fn, std::move(chunks[c]), extras);
    collector->Watch(c, chunk);
    send(std::move(chunk));
  }
  return AsyncResult<std::vector<E>>(std::move(result));
}

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_MAP_COLLECTOR_H_
