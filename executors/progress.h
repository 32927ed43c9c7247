// cf::ProgressBar and cf::progress(): a tqdm-style progress bar for long
// maps, as parmap's pm_pbar draws one.
//
//   primes:  45%|███████▏        | 45/100 [00:01<00:01, 40.12it/s]
//
// The one thing to know: on a terminal the line is redrawn in place (`\r`)
// at most every .mininterval (10 times a second); when the output is not a
// terminal (a log, CI), a plain line is written every .line_interval and at
// the end; disabled, nothing is written at all. update() is an atomic add
// and, most of the time, nothing else, so it can count tiny tasks.
//
//   for (int r : cf::progress(executor.map(f, xs), {.total = xs.size()})) ...
//   for (auto f : cf::progress(cf::as_completed(fs), fs.size())) ...
//   pool.map(f, xs, {.progress = cf::ProgressOptions{.desc = "primes"}});
#ifndef CF_EXECUTORS_PROGRESS_H_
#define CF_EXECUTORS_PROGRESS_H_

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"

namespace cf {

// tqdm's main arguments.
struct ProgressOptions {
  std::string desc = {};                 // a prefix, "desc: "
  std::optional<std::int64_t> total = {};  // unknown: no percentage, no ETA
  std::string unit = "it";               // "it/s"
  int fd = STDERR_FILENO;                // where to write
  bool disable = false;                  // nothing is written at all
  // Redraw in place (`\r`); default: whether `fd` is a terminal.
  std::optional<bool> dynamic = {};
  // Terminal: at most one redraw per this (tqdm's mininterval).
  absl::Duration mininterval = absl::Milliseconds(100);
  // Not a terminal: one line per this, plus one at the start and the end.
  absl::Duration line_interval = absl::Seconds(2);
  // Terminal width; default: the terminal's, else 80.
  std::optional<int> ncols = {};
};

// "Draw a progress bar" as a map option: `.progress = true`, or
// `.progress = cf::ProgressOptions{.desc = "primes"}`.
class Progress {
 public:
  Progress() = default;
  Progress(bool enabled) : enabled_(enabled) {}  // NOLINT: implicit on purpose
  Progress(ProgressOptions options)              // NOLINT: implicit on purpose
      : enabled_(!options.disable), options_(std::move(options)) {}
  bool enabled() const { return enabled_; }
  const ProgressOptions& options() const { return options_; }

 private:
  bool enabled_ = false;
  ProgressOptions options_;
};

class ProgressBar {
 public:
  explicit ProgressBar(ProgressOptions options = {});
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // close().
  ~ProgressBar();

  // Counts `n` more done; thread-safe. Draws when the interval has passed.
  void update(std::int64_t n = 1);
  // Draws the final state and ends the line; later calls do nothing.
  void close();

  std::int64_t n() const { return count_.load(std::memory_order_relaxed); }
  void set_total(std::int64_t total);

  // tqdm.format_meter: the text of one line (no `\r`, no newline), with a
  // bar when `bar` is true, fitted to `ncols` columns.
  static std::string FormatMeter(std::int64_t n,
                                 std::optional<std::int64_t> total,
                                 double elapsed_seconds, const std::string& desc,
                                 const std::string& unit, bool bar, int ncols);

 private:
  using Clock = std::chrono::steady_clock;

  void MaybeDraw(std::int64_t count, bool force);
  void Write(const std::string& text);

  const ProgressOptions options_;
  bool dynamic_ = false;
  int ncols_ = 80;
  const Clock::time_point start_ = Clock::now();
  std::atomic<std::int64_t> total_{-1};  // -1: unknown
  std::atomic<std::int64_t> count_{0};
  // update() looks at the clock only once the count reaches this.
  std::atomic<std::int64_t> next_check_{0};

  std::mutex mu_;  // drawing
  Clock::time_point next_draw_;
  std::size_t last_width_ = 0;
  bool closed_ = false;
};

// A range that yields what `range` yields and counts each element on a
// progress bar, closed when the end is reached. Owns an rvalue `range`
// (a MapResult, an AsCompleted, a cf::IMapIterator); refers to an lvalue one.
template <class R>
class ProgressRange {
  using Stored = std::conditional_t<std::is_lvalue_reference_v<R>, R,
                                    std::remove_cvref_t<R>>;
  using Inner = std::remove_cvref_t<decltype(std::ranges::begin(
      std::declval<std::remove_reference_t<Stored>&>()))>;
  using InnerEnd = std::remove_cvref_t<decltype(std::ranges::end(
      std::declval<std::remove_reference_t<Stored>&>()))>;

 public:
  ProgressRange(R&& range, ProgressOptions options)
      : range_(std::forward<R>(range)), bar_(WithTotal(std::move(options))) {}

  class iterator {
   public:
    using value_type = std::iter_value_t<Inner>;
    using difference_type = std::ptrdiff_t;

    decltype(auto) operator*() const { return *it_; }
    iterator& operator++() {
      ++it_;
      bar_->update(1);
      if (it_ == end_) bar_->close();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& i, std::default_sentinel_t) {
      return i.it_ == i.end_;
    }

   private:
    friend class ProgressRange;
    iterator(Inner it, InnerEnd end, ProgressBar* bar)
        : it_(std::move(it)), end_(std::move(end)), bar_(bar) {}
    Inner it_;
    InnerEnd end_;
    ProgressBar* bar_;
  };

  iterator begin() {
    auto it = std::ranges::begin(range_);
    auto end = std::ranges::end(range_);
    if (it == end) bar_.close();
    return iterator(std::move(it), std::move(end), &bar_);
  }
  std::default_sentinel_t end() { return {}; }

  ProgressBar& bar() { return bar_; }

 private:
  ProgressOptions WithTotal(ProgressOptions options) {
    if constexpr (std::ranges::sized_range<std::remove_reference_t<Stored>>) {
      if (!options.total.has_value()) {
        options.total = static_cast<std::int64_t>(std::ranges::size(range_));
      }
    }
    return options;
  }

  Stored range_;
  ProgressBar bar_;
};

// Wraps any input range (MapResult, AsCompleted, IMapIterator, a vector):
//   for (int r : cf::progress(pool.map(f, xs), {.total = 100})) ...
template <class R>
ProgressRange<R> progress(R&& range, ProgressOptions options = {}) {
  return ProgressRange<R>(std::forward<R>(range), std::move(options));
}
template <class R>
ProgressRange<R> progress(R&& range, std::size_t total) {
  return ProgressRange<R>(
      std::forward<R>(range),
      ProgressOptions{.total = static_cast<std::int64_t>(total)});
}

}  // namespace cf

#endif  // CF_EXECUTORS_PROGRESS_H_
