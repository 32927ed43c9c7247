// cf::Pool: Python's multiprocessing.Pool, its eight methods over
// cf::ProcessPoolExecutor's workers (the same start methods, function
// transport, remote exceptions and crash handling; not a second pool).
//
// The one thing to know: the destructor is Python's `with` exit, which is
// terminate(), not close(): work still queued is cancelled and running tasks
// are killed (their results fail with cf::BrokenProcessPool). To let the work
// finish, call close() and join() first.
//
//   int square(int x) { return x * x; }
//
//   cf::Pool pool(4);                                     // Pool(4)
//   int a = pool.apply(square, 7);                        // apply
//   cf::AsyncResult<int> r = pool.apply_async(square, 7); // apply_async
//   std::vector<int> v = pool.map(square, xs);            // map, chunked
//   for (int x : pool.imap_unordered(square, xs)) ...     // imap_unordered
//   pool.close();
//   pool.join();
//
// Beyond Python: a worker killed from outside (SIGKILL, a segfault, the OOM
// killer) fails the task it was running with cf::BrokenProcessPool naming
// its pid and signal, a new worker takes its place and the pool goes on
// (Python's Pool waits forever there, bpo-22393); terminate() ends every
// result (cf::CancelledError for work not started) instead of leaving them
// unfinished; a callback that throws is reported, not fatal. Tiny
// apply_async calls queued behind busy workers travel several to a frame
// (internal/task_queue.h); a worker killed mid-frame fails those calls too.
#ifndef CF_EXECUTORS_POOL_H_
#define CF_EXECUTORS_POOL_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "executors/async_result.h"
#include "executors/executor.h"
#include "executors/imap.h"
#include "executors/internal/map_collector.h"
#include "executors/internal/pool_call.h"
#include "executors/internal/pool_chunk.h"
#include "executors/internal/result_handler.h"
#include "executors/internal/task_queue.h"
#include "executors/process_pool_executor.h"
#include "executors/progress.h"

namespace cf {

namespace internal {
struct PoolAccess;
}  // namespace internal

struct PoolOptions {
  // Worker processes; default: the CPUs usable by this process. Must be >= 1.
  std::optional<int> processes = {};
  // Run once in each worker before it takes tasks (initializer, initargs).
  ProcessInitializer initializer = {};
  // A worker exits after this many tasks (a map chunk counts as one) and a
  // fresh one replaces it. Must be >= 1. Needs kSpawn or kForkServer (picks
  // kSpawn when no start method is given): unlike Python's Pool, cf never
  // forks a replacement from a parent that has threads.
  std::optional<int> maxtasksperchild = {};
  // Default: kFork, as multiprocessing on Linux before 3.14.
  std::optional<StartMethod> start_method = {};
};

// map / starmap: pool.map(fn, xs, {.chunksize = 8, .progress = true}).
struct PoolMapOptions {
  // Inputs per task; default Python's ceil(len / (4 * processes)). >= 1.
  std::optional<int> chunksize = {};
  Progress progress = {};
};

// map_async / starmap_async: PoolMapOptions plus Python's callbacks.
template <class E>
struct MapAsyncOptions {
  std::optional<int> chunksize = {};
  Progress progress = {};
  // Called once with the whole list when every task succeeded.
  typename internal::ValueCallbackFor<std::vector<E>>::type callback = nullptr;
  // Called once with the first exception, after every task is done.
  absl::AnyInvocable<void(std::exception_ptr)> error_callback = nullptr;
};

// imap / imap_unordered: pool.imap(fn, xs, {.chunksize = 4}).
struct IMapOptions {
  int chunksize = 1;  // >= 1, as Python's default
  // Tasks sent ahead of the consumer (Python: all of them); default
  // 64 * processes.
  std::optional<int> buffersize = {};
  Progress progress = {};  // counts results as they are consumed
};

namespace internal {

template <class R>
using RangeItem = std::remove_cvref_t<std::ranges::range_reference_t<R>>;

// A tuple-like value (std::tuple, std::pair, std::array) as a std::tuple of
// values: what starmap unpacks into arguments.
template <class T, class = std::make_index_sequence<std::tuple_size_v<T>>>
struct AsTuple;
template <class T, std::size_t... I>
struct AsTuple<T, std::index_sequence<I...>> {
  using type = std::tuple<std::remove_cvref_t<std::tuple_element_t<I, T>>...>;
};

// What a map of `F` over items of type `Item` (a std::tuple of arguments)
// with `Extras` yields: the function's value, or std::monostate for void.
template <class F, class Item, class Extras = std::tuple<>>
using MapElement = ElementOf<
    typename ChunkCallResult<std::decay_t<F>, Item, Extras>::type>;

}  // namespace internal

class Pool {
 public:
  // Python's Pool(processes): throws std::invalid_argument("Number of
  // processes must be at least 1").
  explicit Pool(int processes);
  // Throws std::invalid_argument("Number of processes must be at least 1")
  // or ("maxtasksperchild must be a positive int or None").
  explicit Pool(PoolOptions options = {});
  // Python's `with` exit: terminate(), then join(). See the top of the file.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs fn(args...) in a worker and returns its value; rethrows its
  // exception. All methods throw std::invalid_argument("Pool not running")
  // after close() or terminate().
  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  internal::CallResult<F, Args...> apply(F&& fn, Args&&... args) {
    AsyncResult<internal::CallResult<F, Args...>> result =
        apply_async(std::forward<F>(fn), std::forward<Args>(args)...);
    if constexpr (std::is_void_v<internal::CallResult<F, Args...>>) {
      result.get();
    } else {
      return std::move(result.get());
    }
  }

  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  AsyncResult<internal::CallResult<F, Args...>> apply_async(F&& fn,
                                                            Args&&... args) {
    return AsyncResult<internal::CallResult<F, Args...>>(
        SubmitCall(std::forward<F>(fn), std::forward<Args>(args)...));
  }
  // With Python's callback and error_callback:
  //   pool.apply_async({.callback = [](const int& v) { ... }}, square, 7);
  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
  AsyncResult<internal::CallResult<F, Args...>> apply_async(
      AsyncOptions<internal::CallResult<F, Args...>> options, F&& fn,
      Args&&... args) {
    return internal::WithCallbacks(
        SubmitCall(std::forward<F>(fn), std::forward<Args>(args)...),
        std::move(options), handler_);
  }

  // fn(x) for each x, in input order (a void function gives std::monostate,
  // Python's None). Rethrows the first exception, once every task is done.
  template <class F, std::ranges::input_range R>
  std::vector<internal::MapElement<F, std::tuple<internal::RangeItem<R>>>> map(
      F&& fn, R&& inputs, PoolMapOptions options = {}) {
    return std::move(map_async(std::forward<F>(fn), std::forward<R>(inputs),
                               {.chunksize = options.chunksize,
                                .progress = std::move(options.progress)})
                         .get());
  }
  template <class F, std::ranges::input_range R,
            class E = internal::MapElement<F, std::tuple<internal::RangeItem<R>>>>
  AsyncResult<std::vector<E>> map_async(F&& fn, R&& inputs,
                                        MapAsyncOptions<E> options = {}) {
    using Item = std::tuple<internal::RangeItem<R>>;
    return MapImpl<E, Item>(std::forward<F>(fn), std::forward<R>(inputs),
                            std::move(options), [](auto&& x) {
                              return Item(std::forward<decltype(x)>(x));
                            });
  }

  // fn(a, b, ...) for each tuple, pair or array (a, b, ...) of `inputs`.
  template <class F, std::ranges::input_range R>
  auto starmap(F&& fn, R&& inputs, PoolMapOptions options = {}) {
    return std::move(starmap_async(std::forward<F>(fn), std::forward<R>(inputs),
                                   {.chunksize = options.chunksize,
                                    .progress = std::move(options.progress)})
                         .get());
  }
  template <class F, std::ranges::input_range R,
            class Item = typename internal::AsTuple<internal::RangeItem<R>>::type,
            class E = internal::MapElement<F, Item>>
  AsyncResult<std::vector<E>> starmap_async(F&& fn, R&& inputs,
                                            MapAsyncOptions<E> options = {}) {
    return MapImpl<E, Item>(
        std::forward<F>(fn), std::forward<R>(inputs), std::move(options),
        [](auto&& t) {
          return std::apply(
              [](auto&&... a) { return Item(std::forward<decltype(a)>(a)...); },
              std::forward<decltype(t)>(t));
        });
  }

  // Lazy maps: results in input order (imap) or as they complete
  // (imap_unordered); see executors/imap.h. An lvalue range must outlive the
  // iteration; an rvalue one is kept.
  template <class F, std::ranges::input_range R>
  auto imap(F&& fn, R&& inputs, IMapOptions options = {}) {
    return IMapImpl(/*ordered=*/true, std::forward<F>(fn),
                    std::forward<R>(inputs), std::move(options));
  }
  template <class F, std::ranges::input_range R>
  auto imap_unordered(F&& fn, R&& inputs, IMapOptions options = {}) {
    return IMapImpl(/*ordered=*/false, std::forward<F>(fn),
                    std::forward<R>(inputs), std::move(options));
  }

  // Python's close(): no new work; what was accepted runs to the end.
  void close();
  // Python's terminate(): no new work; queued work is cancelled and the
  // workers are stopped (SIGTERM) now, failing their running tasks.
  void terminate();
  // Waits for the workers to exit (and for the callbacks of finished work);
  // after close(), that is once all accepted work is done. Throws
  // std::invalid_argument("Pool is still running") before close() or
  // terminate().
  void join();

  int processes() const { return processes_; }
  StartMethod start_method() const { return executor_.start_method(); }

 private:
  friend struct internal::PoolAccess;
  enum class State { kRun, kClose, kTerminate };

  static ProcessPoolOptions ExecutorOptions(const PoolOptions& options,
                                            int processes);
  void CheckRunning() const;
  void Send(std::shared_ptr<internal::WorkItem> task, bool single_call);
  void AddFeed(std::weak_ptr<internal::IMapFeed> feed);
  std::vector<std::shared_ptr<internal::IMapFeed>> LiveFeeds();
  int DefaultChunksize(std::size_t n) const;
  static void CheckChunksize(int chunksize);

  // Fails the build for a call that cannot cross to a worker (Remote:
  // internal::RemoteCallTraits).
  template <class Remote>
  static constexpr void CheckRemote() {
    static_assert(Remote::kCallable,
                  "cf::Pool: a capturing lambda or stateful function object "
                  "cannot run in a worker process; pass a free function or a "
                  "captureless lambda, and pass the state as arguments");
    static_assert(Remote::kArgumentsSerializable,
                  "cf::Pool: an argument type cannot be serialized; give it a "
                  "cereal serialize() (and a default constructor) or pass "
                  "standard types");
    static_assert(Remote::kResultSerializable,
                  "cf::Pool: the result type cannot be serialized; give it a "
                  "cereal serialize() (and a default constructor) or return "
                  "standard types");
  }

  template <class F, class... Args>
  Future<internal::CallResult<F, Args...>> SubmitCall(F&& fn, Args&&... args);

  // map_async and starmap_async: `make` turns an input into an Item (a
  // tuple of arguments).
  template <class E, class Item, class F, class R, class Make>
  AsyncResult<std::vector<E>> MapImpl(F&& fn, R&& inputs,
                                      MapAsyncOptions<E> options, Make make);
  // Every map: `chunks` of items, `extras` sent once a chunk.
  template <class E, class F, class Item, class Extras>
  AsyncResult<std::vector<E>> MapChunks(
      const F& fn, std::vector<std::vector<Item>> chunks,
      std::shared_ptr<const Extras> extras, MapAsyncOptions<E> options);
  static std::shared_ptr<const std::tuple<>> NoExtras();
  // For parallel_map on a ProcessPoolExecutor it was given.
  static void SubmitTo(ProcessPoolExecutor& executor,
                       std::shared_ptr<internal::WorkItem> task) {
    executor.Submit(std::move(task));
  }

  template <class F, class R>
  auto IMapImpl(bool ordered, F&& fn, R&& inputs, IMapOptions options);

  const int processes_;
  ProcessPoolExecutor executor_;
  internal::ResultHandler handler_;
  internal::TaskQueue queue_;
  std::atomic<State> state_{State::kRun};
  std::mutex feeds_mu_;
  std::vector<std::weak_ptr<internal::IMapFeed>> feeds_;
};

// ---------------------------------------------------------------------------
// Implementation details.

template <class F, class... Args>
Future<internal::CallResult<F, Args...>> Pool::SubmitCall(F&& fn,
                                                          Args&&... args) {
  using R = internal::CallResult<F, Args...>;
  CheckRemote<internal::RemoteCallTraits<R, std::decay_t<F>,
                                         std::decay_t<Args>...>>();
  CheckRunning();
  auto call = std::make_shared<
      internal::PoolCall<R, std::decay_t<F>, std::decay_t<Args>...>>(
      std::forward<F>(fn), std::forward<Args>(args)...);
  Future<R> future(call);
  Send(std::move(call), /*single_call=*/true);
  return future;
}

template <class E, class Item, class F, class R, class Make>
AsyncResult<std::vector<E>> Pool::MapImpl(F&& fn, R&& inputs,
                                          MapAsyncOptions<E> options,
                                          Make make) {
  using Fn = std::decay_t<F>;
  CheckRemote<typename internal::PoolChunk<E, Fn, Item, std::tuple<>>::Remote>();
  CheckRunning();
  std::vector<std::vector<Item>> chunks = internal::Chunked<Item>(
      std::forward<R>(inputs),
      [&](std::size_t n) {
        const int chunksize = options.chunksize.value_or(DefaultChunksize(n));
        CheckChunksize(chunksize);
        return chunksize;
      },
      make);
  return MapChunks<E>(Fn(std::forward<F>(fn)), std::move(chunks), NoExtras(),
                      std::move(options));
}

template <class E, class F, class Item, class Extras>
AsyncResult<std::vector<E>> Pool::MapChunks(
    const F& fn, std::vector<std::vector<Item>> chunks,
    std::shared_ptr<const Extras> extras, MapAsyncOptions<E> options) {
  CheckRemote<typename internal::PoolChunk<E, F, Item, Extras>::Remote>();
  CheckRunning();
  return internal::MapChunks<E>(
      fn, std::move(chunks), std::move(extras), options.progress,
      {std::move(options.callback), std::move(options.error_callback)},
      &handler_, [this](std::shared_ptr<internal::WorkItem> chunk) {
        Send(std::move(chunk), /*single_call=*/false);
      });
}

template <class F, class R>
auto Pool::IMapImpl(bool ordered, F&& fn, R&& inputs, IMapOptions options) {
  using X = internal::RangeItem<R>;
  using E = internal::MapElement<F, std::tuple<X>>;
  using Fn = std::decay_t<F>;
  using View = std::views::all_t<R>;
  using State = internal::IMapState<E>;
  CheckRemote<typename internal::PoolChunk<E, Fn, std::tuple<X>,
                                           std::tuple<>>::Remote>();
  CheckRunning();
  CheckChunksize(options.chunksize);
  if (options.buffersize.has_value() && *options.buffersize < 1) {
    throw std::invalid_argument("buffersize must be None or > 0");
  }
  std::unique_ptr<ProgressBar> bar;
  if (options.progress.enabled()) {
    ProgressOptions bar_options = options.progress.options();
    if constexpr (std::ranges::sized_range<R>) {
      if (!bar_options.total) {
        bar_options.total = static_cast<std::int64_t>(std::ranges::size(inputs));
      }
    }
    bar = std::make_unique<ProgressBar>(std::move(bar_options));
  }
  // The input and the position in it, on the heap: iterators into the view
  // must stay valid.
  struct Input {
    Fn fn;
    View view;
    std::optional<std::ranges::iterator_t<View>> it;
    int chunksize;
  };
  auto input = std::make_shared<Input>(
      Input{std::forward<F>(fn), std::views::all(std::forward<R>(inputs)),
            std::nullopt, options.chunksize});
  typename State::Source source =
      [input]() -> std::optional<typename State::Next> {
    auto& it = *input;
    if (!it.it.has_value()) it.it = std::ranges::begin(it.view);
    std::vector<std::tuple<X>> items;
    while (static_cast<int>(items.size()) < it.chunksize &&
           *it.it != std::ranges::end(it.view)) {
      items.emplace_back(**it.it);
      ++*it.it;
    }
    if (items.empty()) return std::nullopt;
    auto chunk = std::make_shared<
        internal::PoolChunk<E, Fn, std::tuple<X>, std::tuple<>>>(
        it.fn, std::move(items), NoExtras());
    return typename State::Next{chunk, chunk};
  };
  const bool single = options.chunksize == 1;
  auto state = std::make_shared<State>(
      ordered,
      static_cast<std::size_t>(options.buffersize.value_or(64 * processes_)),
      std::move(source),
      [this, single](std::vector<std::shared_ptr<internal::WorkItem>> tasks) {
        queue_.PushMany(std::move(tasks), single);
      });
  AddFeed(state);
  state->TopUp();
  return IMapIterator<E>(std::move(state), std::move(bar));
}

}  // namespace cf

#endif  // CF_EXECUTORS_POOL_H_
