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

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "executors/internal/work_item.h"
#include "executors/map_result.h"
#include "futures/future.h"
#include "futures/internal/deadline.h"

namespace cf {
namespace internal {

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
  auto map(F&& fn, R1&& r1, R2&& r2, R3&& r3, R4&& r4, MapOptions options = {}) {
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

 private:
  template <class F, class... Ranges>
  auto MapImpl(F&& fn, const MapOptions& options, Ranges&&... ranges);

  // Lets a MapResult that outlives this executor stop submitting (Python
  // holds the executor through a weakref there).
  std::shared_ptr<Executor*> self_ = std::make_shared<Executor*>(this);
};

namespace internal {

// Pulls zipped inputs and submits one call per tuple; lives on the heap so
// that the iterators into its views stay valid.
template <class R, class Fn, class... Views>
class MapSubmitter {
 public:
  MapSubmitter(std::weak_ptr<Executor*> executor, Fn fn, Views... views)
      : executor_(std::move(executor)),
        fn_(std::move(fn)),
        views_(std::move(views)...),
        iterators_(std::apply(
            [](auto&... v) { return std::make_tuple(std::ranges::begin(v)...); },
            views_)) {}

  std::optional<Future<R>> operator()() {
    return Next(std::index_sequence_for<Views...>());
  }

 private:
  template <std::size_t... I>
  std::optional<Future<R>> Next(std::index_sequence<I...>) {
    if constexpr (sizeof...(I) == 0) {
      return std::nullopt;
    } else {
      if (((std::get<I>(iterators_) == std::ranges::end(std::get<I>(views_))) ||
           ...)) {
        return std::nullopt;
      }
      std::shared_ptr<Executor*> executor = executor_.lock();
      if (!executor) return std::nullopt;
      Future<R> f = (*executor)->submit(fn_, *std::get<I>(iterators_)...);
      (++std::get<I>(iterators_), ...);
      return f;
    }
  }

  std::weak_ptr<Executor*> executor_;
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
  internal::Deadline deadline = internal::Deadline::After(options.timeout);
  using Submitter = internal::MapSubmitter<R, std::decay_t<F>,
                                           std::views::all_t<Ranges>...>;
  auto submitter = std::make_unique<Submitter>(
      self_, std::forward<F>(fn), std::views::all(std::forward<Ranges>(ranges))...);
  std::deque<Future<R>> submitted;
  const std::size_t limit = options.buffersize.has_value()
                                ? static_cast<std::size_t>(*options.buffersize)
                                : static_cast<std::size_t>(-1);
  while (submitted.size() < limit) {
    std::optional<Future<R>> f = (*submitter)();
    if (!f) break;
    submitted.push_back(std::move(*f));
  }
  typename MapResult<R>::Submitter more;
  if (options.buffersize.has_value()) {
    more = [s = std::move(submitter)] { return (*s)(); };
  }
  return MapResult<R>(std::move(submitted), std::move(more), deadline);
}

}  // namespace cf

#endif  // CF_EXECUTORS_EXECUTOR_H_
