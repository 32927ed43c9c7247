// cf::parallel_map and cf::parallel_starmap: the parmap package's one-liners.
//
//   cf::parallel_map(fn, xs, a, b)              == [fn(x, a, b) for x in xs]
//   cf::parallel_starmap(fn, pairs, a)          == [fn(*p, a) for p in pairs]
//
// The one thing to know: by default each call makes a cf::Pool of its own
// (one worker per usable CPU), maps, and closes and joins it; pass
// `.pool = &pool` (parmap's pm_pool) or `.executor = &executor` to reuse one.
// The extra arguments travel once per chunk, not once per element, and reach
// `fn` as const lvalues. Results come in input order; the first exception
// (in completion order, as Pool.map) is rethrown once every task is done.
//
//   std::vector<int> primes = cf::parallel_map(
//       {.processes = 4, .progress = true}, count_prime, ns);
//
// Options (parmap's pm_* keywords): .processes (pm_processes), .chunksize
// (pm_chunksize; default Python's ceil(n / (4 * workers))), .pool (pm_pool),
// .executor (any cf::Executor: threads need no serializable types),
// .parallel = false (pm_parallel: a plain loop here), .progress (pm_pbar).
#ifndef CF_EXECUTORS_PARALLEL_MAP_H_
#define CF_EXECUTORS_PARALLEL_MAP_H_

#include <cstdint>
#include <stdexcept>
#include <string>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "executors/executor.h"
#include "executors/internal/map_collector.h"
#include "executors/internal/pool_chunk.h"
#include "executors/internal/pool_support.h"
#include "executors/pool.h"
#include "executors/process_pool_executor.h"
#include "executors/progress.h"
#include "executors/thread_pool_executor.h"

namespace cf {

struct ParallelMapOptions {
  std::optional<int> processes = {};  // for the pool it makes; default: CPUs
  std::optional<int> chunksize = {};  // >= 1
  Pool* pool = nullptr;               // reuse this pool (left open)
  Executor* executor = nullptr;       // or this executor (left running)
  bool parallel = true;               // false: a serial loop in this thread
  Progress progress = {};             // a bar counting finished elements
  std::optional<StartMethod> start_method = {};  // for the pool it makes
};

namespace internal {

struct PoolAccess {
  template <class E, class F, class Item, class Extras>
  static AsyncResult<std::vector<E>> Map(Pool& pool, const F& fn,
                                         std::vector<Item> items,
                                         std::shared_ptr<const Extras> extras,
                                         std::optional<int> chunksize,
                                         Progress progress) {
    const int size = chunksize.value_or(pool.DefaultChunksize(items.size()));
    Pool::CheckChunksize(size);
    return pool.MapChunks<E>(fn, SplitItems(std::move(items), size),
                             std::move(extras),
                             {.progress = std::move(progress)});
  }
  static void SubmitTo(ProcessPoolExecutor& executor,
                       std::shared_ptr<WorkItem> task) {
    Pool::SubmitTo(executor, std::move(task));
  }
};

template <class E, class F, class Item, class Extras>
std::vector<E> ParallelMapImpl(ParallelMapOptions options, const F& fn,
                               std::vector<Item> items,
                               std::shared_ptr<const Extras> extras) {
  using Remote = typename PoolChunk<E, F, Item, Extras>::Remote;
  if (!options.parallel) {  // parmap's pm_parallel=False
    std::unique_ptr<ProgressBar> bar;
    if (options.progress.enabled()) {
      ProgressOptions bar_options = options.progress.options();
      if (!bar_options.total) bar_options.total = std::int64_t(items.size());
      bar = std::make_unique<ProgressBar>(std::move(bar_options));
    }
    F function = fn;
    std::vector<E> results;
    results.reserve(items.size());
    for (Item& item : items) {
      results.push_back(CallWithExtras<E>(function, std::move(item), *extras));
      if (bar != nullptr) bar->update(1);
    }
    return results;
  }
  if (options.executor != nullptr) {
    Executor& executor = *options.executor;
    auto* processes = dynamic_cast<ProcessPoolExecutor*>(&executor);
    auto* threads = dynamic_cast<ThreadPoolExecutor*>(&executor);
    const int workers = processes != nullptr ? processes->max_workers()
                        : threads != nullptr ? threads->max_workers()
                                             : UsableCpus();
    const std::size_t per = 4 * static_cast<std::size_t>(workers);
    const int chunksize = options.chunksize.value_or(
        static_cast<int>(std::max<std::size_t>(1, (items.size() + per - 1) / per)));
    if (chunksize < 1) {
      throw std::invalid_argument("Chunksize must be 1+, not " +
                                  std::to_string(chunksize));
    }
    AsyncResult<std::vector<E>> result = MapChunks<E>(
        fn, SplitItems(std::move(items), chunksize), std::move(extras),
        options.progress, {}, nullptr, [&](std::shared_ptr<WorkItem> task) {
          if (processes != nullptr) {
            PoolAccess::SubmitTo(*processes, std::move(task));
            return;
          }
          // Any other executor runs the chunk in its own process.
          Future<void> run = executor.submit([task] { task->Run([] {}); });
          run.add_done_callback([task](const Future<void>& f) {
            if (f.cancelled()) CancelQueued(*task);
          });
        });
    return std::move(result.get());
  }
  if constexpr (!Remote::kRemotable) {
    throw NotRemotable(
        std::string("cf::parallel_map: cannot run this call in a worker "
                    "process: ") +
        Remote::WhyNot() +
        "; or pass .executor = &a_thread_pool, or .parallel = false, to run "
        "it in this process");
  } else {
    if (options.pool != nullptr) {
      return std::move(PoolAccess::Map<E>(*options.pool, fn, std::move(items),
                                          std::move(extras), options.chunksize,
                                          std::move(options.progress))
                           .get());
    }
    Pool pool(PoolOptions{.processes = options.processes,
                          .start_method = options.start_method});
    std::vector<E> results =
        std::move(PoolAccess::Map<E>(pool, fn, std::move(items),
                                     std::move(extras), options.chunksize,
                                     std::move(options.progress))
                      .get());
    pool.close();  // on an exception, the destructor terminates it (parmap)
    pool.join();
    return results;
  }
}

}  // namespace internal

// [fn(x, extra...) for x in inputs], on worker processes by default.
template <class F, std::ranges::input_range R, class... Extra>
auto parallel_map(ParallelMapOptions options, F&& fn, R&& inputs,
                  Extra&&... extra) {
  using Item = std::tuple<internal::RangeItem<R>>;
  using Extras = std::tuple<std::decay_t<Extra>...>;
  using E = internal::MapElement<F, Item, Extras>;
  std::vector<Item> items;
  for (auto&& x : inputs) items.emplace_back(std::forward<decltype(x)>(x));
  return internal::ParallelMapImpl<E>(
      std::move(options), std::decay_t<F>(std::forward<F>(fn)),
      std::move(items),
      std::make_shared<const Extras>(std::forward<Extra>(extra)...));
}
template <class F, std::ranges::input_range R, class... Extra>
auto parallel_map(F&& fn, R&& inputs, Extra&&... extra) {
  return parallel_map(ParallelMapOptions{}, std::forward<F>(fn),
                      std::forward<R>(inputs), std::forward<Extra>(extra)...);
}

// [fn(*item, extra...) for item in inputs]: items are tuples, pairs or
// arrays.
template <class F, std::ranges::input_range R, class... Extra>
auto parallel_starmap(ParallelMapOptions options, F&& fn, R&& inputs,
                      Extra&&... extra) {
  using Item = typename internal::AsTuple<internal::RangeItem<R>>::type;
  using Extras = std::tuple<std::decay_t<Extra>...>;
  using E = internal::MapElement<F, Item, Extras>;
  std::vector<Item> items;
  for (auto&& t : inputs) {
    items.push_back(std::apply(
        [](auto&&... a) { return Item(std::forward<decltype(a)>(a)...); },
        std::forward<decltype(t)>(t)));
  }
  return internal::ParallelMapImpl<E>(
      std::move(options), std::decay_t<F>(std::forward<F>(fn)),
      std::move(items),
      std::make_shared<const Extras>(std::forward<Extra>(extra)...));
}
template <class F, std::ranges::input_range R, class... Extra>
auto parallel_starmap(F&& fn, R&& inputs, Extra&&... extra) {
  return parallel_starmap(ParallelMapOptions{}, std::forward<F>(fn),
                          std::forward<R>(inputs),
                          std::forward<Extra>(extra)...);
}

}  // namespace cf

#endif  // CF_EXECUTORS_PARALLEL_MAP_H_
