// cf::Executor: the abstract executor, Python's concurrent.futures.Executor.
//
// Code written against `cf::Executor&` runs unchanged on every cf executor
// (threads, processes, a cluster): submit() a call and get a cf::Future, map()
// a function over ranges, shutdown(). The one thing to know: the executor's
// destructor is Python's `with` block exit, shutdown(wait=true), so a
// scope-bound executor finishes its work before it goes.
//
//   int square(int x) { return x * x; }
//
//   void Run(cf::Executor& executor) {
//     cf::Future<int> f = executor.submit(square, 7);
//     for (int r : executor.map(square, std::vector<int>{1, 2, 3})) ...
//   }
#ifndef CF_EXECUTORS_EXECUTOR_H_
#define CF_EXECUTORS_EXECUTOR_H_

#include <algorithm>
#include <cstddef>
#include <deque>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "executors/internal/chunk_call.h"
#include "executors/internal/map_batch.h"
#include "executors/internal/work_item.h"
#include "executors/map_result.h"
#include "futures/future.h"
#include "futures/internal/deadline.h"

namespace cf {

class Executor;

namespace internal {

template <class R, class Fn, class... Views>
class MapSubmitter;

// What `fn(args...)` returns when an executor calls it: with copies of the
// arguments, as rvalues (as std::thread does, and Python's submit in effect).
template <class F, class... Args>
using CallResult = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

}  // namespace internal

class Executor {
 public:
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() = default;

  // Schedules `fn(args...)` and returns its future. The function and the
  // arguments are copied (or moved) into the call; pass std::ref for a
  // reference. Throws std::runtime_error("cannot schedule new futures after
  // shutdown") after shutdown(), and the executor's Broken* error once it is
  // broken.
  template <class F, class... Args>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
      Future<internal::CallResult<F, Args...>> submit(F&& fn, Args&&... args) {
    using R = internal::CallResult<F, Args...>;
    auto call = std::make_shared<
        internal::CallState<R, std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(fn), std::forward<Args>(args)...);
    Future<R> future(call);
    Submit(std::move(call));
    return future;
  }

  // Python's map(fn, *iterables, timeout=, chunksize=, buffersize=): calls
  // `fn` on the elements of one to four input ranges, zipped (stopping at the
  // shortest), and yields the results in input order. Without .buffersize
  // every call is submitted now; the deadline counts from now.
  template <class F, std::ranges::input_range R1>
  auto map(F&& fn, R1&& r1, MapOptions options = {}) {
    return MapImpl(std::forward<F>(fn), options, std::forward<R1>(r1));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2>
  auto map(F&& fn, R1&& r1, R2&& r2, MapOptions options = {}) {
    return MapImpl(std::forward<F>(fn), options, std::forward<R1>(r1),
                   std::forward<R2>(r2));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2,
            std::ranges::input_range R3>
  auto map(F&& fn, R1&& r1, R2&& r2, R3&& r3, MapOptions options = {}) {
    return MapImpl(std::forward<F>(fn), options, std::forward<R1>(r1),
                   std::forward<R2>(r2), std::forward<R3>(r3));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2,
            std::ranges::input_range R3, std::ranges::input_range R4>
  auto map(F&& fn, R1&& r1, R2&& r2, R3&& r3, R4&& r4,
           MapOptions options = {}) {
    return MapImpl(std::forward<F>(fn), options, std::forward<R1>(r1),
                   std::forward<R2>(r2), std::forward<R3>(r3),
                   std::forward<R4>(r4));
  }
  // No input ranges: like Python's map(fn), an empty result.
  template <class F>
  auto map(F&& fn, MapOptions options) {
    return MapImpl(std::forward<F>(fn), options);
  }

  // Stops accepting work; with `cancel_futures`, cancels the calls that have
  // not started; with `wait`, returns once every started call has finished and
  // the executor's resources are freed. Safe to call more than once.
  virtual void shutdown(bool wait = true, bool cancel_futures = false) = 0;

 protected:
  // Queues a call. Throws like submit().
  virtual void Submit(std::shared_ptr<internal::WorkItem> call) = 0;
  // Whether map() sends .chunksize inputs per task (process pools do; for
  // threads Python ignores chunksize).
  virtual bool ChunksMap() const { return false; }
  // Whether map() without a buffersize queues all its calls as one batch
  // that the workers share (map_batch.h): thread pools do.
  virtual bool BatchesMap() const { return false; }

 private:
  template <class F, class... Ranges>
  auto MapImpl(F&& fn, const MapOptions& options, Ranges&&... ranges);

  template <class R, class Fn, class... Views>
  friend class internal::MapSubmitter;

  // Lets a MapResult that outlives this executor stop submitting (Python
  // holds the executor through a weakref there).
  std::shared_ptr<Executor*> self_ = std::make_shared<Executor*>(this);
};

namespace internal {

// Pulls zipped inputs and submits one call per tuple, or one chunk of calls
// per `chunksize` tuples; lives on the heap so that the iterators into its
// views stay valid.
template <class R, class Fn, class... Views>
class MapSubmitter {
 public:
  MapSubmitter(std::weak_ptr<Executor*> executor, int chunksize, Fn fn,
               Views... views)
      : executor_(std::move(executor)),
        chunksize_(chunksize),
        fn_(std::move(fn)),
        views_(std::move(views)...),
        iterators_(std::apply(
            [](auto&... v) {
              return std::make_tuple(std::ranges::begin(v)...);
            },
            views_)) {}

  // What yields the next call's or chunk's results; nothing once the inputs
  // (or the executor) are gone.
  std::optional<MapEntry<R>> operator()() {
    return Next(std::index_sequence_for<Views...>());
  }

  // Every remaining call, submitted as thread-pool batches.
  void SubmitBatches(std::deque<MapEntry<R>>* entries) {
    Batch(entries, std::index_sequence_for<Views...>());
  }

 private:
  using Item =
      std::tuple<std::decay_t<std::ranges::range_reference_t<Views>>...>;

  template <std::size_t... I>
  bool AtEnd(std::index_sequence<I...>) const {
    return sizeof...(I) == 0 || ((std::get<I>(iterators_) ==
                                  std::ranges::end(std::get<I>(views_))) ||
                                 ...);
  }

  template <std::size_t... I>
  std::optional<MapEntry<R>> Next(std::index_sequence<I...> indices) {
    if (AtEnd(indices)) return std::nullopt;
    std::shared_ptr<Executor*> executor = executor_.lock();
    if (!executor) return std::nullopt;
    if constexpr (sizeof...(I) == 0) {
      return std::nullopt;
    } else {
      if (chunksize_ <= 1) {
        Future<R> f = (*executor)->submit(fn_, *std::get<I>(iterators_)...);
        (++std::get<I>(iterators_), ...);
        return MapEntry<R>::Call(std::move(f));
      }
      std::vector<Item> items;
      while (static_cast<int>(items.size()) < chunksize_ && !AtEnd(indices)) {
        items.emplace_back(*std::get<I>(iterators_)...);
        (++std::get<I>(iterators_), ...);
      }
      auto chunk = ChunkCallState<
          R, Fn, std::decay_t<std::ranges::range_reference_t<Views>>...>::
          Create(fn_, std::move(items));
      MapEntry<R> entry = MapEntry<R>::Run(chunk);
      (*executor)->Submit(std::move(chunk));
      return entry;
    }
  }

  template <std::size_t... I>
  void Batch(std::deque<MapEntry<R>>* entries,
             std::index_sequence<I...> indices) {
    if constexpr (sizeof...(I) > 0) {
      using Batch = MapBatch<
          R, Fn, std::decay_t<std::ranges::range_reference_t<Views>>...>;
      std::vector<typename Batch::Item> items;
      if constexpr ((std::ranges::sized_range<Views> && ...)) {
        items.reserve(std::min({static_cast<std::size_t>(
            std::ranges::size(std::get<I>(views_)))...}));
      }
      while (!AtEnd(indices)) {
        items.emplace_back(std::in_place, *std::get<I>(iterators_)...);
        (++std::get<I>(iterators_), ...);
      }
      std::shared_ptr<Executor*> executor = executor_.lock();
      if (items.empty() || !executor) return;
      // Queued as batches of growing size (kFirstBatch, then 4x the last):
      // the threads start on the first while the next are built, and each
      // is built in less time than its predecessor takes to run, unless
      // the calls are cheaper than building their futures.
      auto progress = std::make_shared<BatchProgress>(items.size());
      std::size_t begin = 0;
      for (std::size_t size = kFirstBatch; begin < items.size(); size *= 4) {
        const std::size_t end = std::min(items.size(), begin + size);
        auto batch = Batch::Create(
            fn_,
            std::vector<typename Batch::Item>(
                std::make_move_iterator(items.begin() + begin),
                std::make_move_iterator(items.begin() + end)),
            progress);
        entries->push_back(MapEntry<R>::Run(batch->elements()));
        (*executor)->Submit(std::move(batch));
        begin = end;
      }
    }
  }

  static constexpr std::size_t kFirstBatch = 256;

  std::weak_ptr<Executor*> executor_;
  const int chunksize_;  // 1: no chunks
  Fn fn_;
  std::tuple<Views...> views_;
  std::tuple<std::ranges::iterator_t<Views>...> iterators_;
};

}  // namespace internal

template <class F, class... Ranges>
auto Executor::MapImpl(F&& fn, const MapOptions& options, Ranges&&... ranges) {
  using R = internal::CallResult<F, std::ranges::range_reference_t<Ranges>...>;
  if (options.buffersize.has_value() && *options.buffersize <= 0) {
    throw std::invalid_argument("buffersize must be None or > 0");
  }
  if (ChunksMap() && options.chunksize < 1) {
    throw std::invalid_argument("chunksize must be >= 1.");
  }
  internal::Deadline deadline = internal::Deadline::After(options.timeout);
  using Submitter =
      internal::MapSubmitter<R, std::decay_t<F>, std::views::all_t<Ranges>...>;
  auto submitter = std::make_unique<Submitter>(
      self_, ChunksMap() ? options.chunksize : 1, std::forward<F>(fn),
      std::views::all(std::forward<Ranges>(ranges))...);
  std::deque<internal::MapEntry<R>> submitted;
  if (BatchesMap() && !options.buffersize.has_value()) {
    submitter->SubmitBatches(&submitted);
    return MapResult<R>(std::move(submitted), nullptr, deadline);
  }
  // With a buffer, that many tasks (calls, or chunks) run ahead.
  const std::size_t limit = options.buffersize.has_value()
                                ? static_cast<std::size_t>(*options.buffersize)
                                : static_cast<std::size_t>(-1);
  for (std::size_t tasks = 0; tasks < limit; ++tasks) {
    std::optional<internal::MapEntry<R>> next = (*submitter)();
    if (!next.has_value()) break;
    submitted.push_back(std::move(*next));
  }
  typename MapResult<R>::Submitter more;
  if (options.buffersize.has_value()) {
    more = [s = std::move(submitter)] { return (*s)(); };
  }
  return MapResult<R>(std::move(submitted), std::move(more), deadline);
}

}  // namespace cf

#endif  // CF_EXECUTORS_EXECUTOR_H_
