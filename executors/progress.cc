#include "executors/progress.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cf {
namespace {

// tqdm's format_interval: "MM:SS", or "H:MM:SS" from an hour on.
std::string FormatInterval(double seconds) {
  const std::int64_t t = static_cast<std::int64_t>(seconds);
  const std::int64_t h = t / 3600, m = (t / 60) % 60, s = t % 60;
  if (h > 0) return absl::StrFormat("%d:%02d:%02d", h, m, s);
  return absl::StrFormat("%02d:%02d", m, s);
}

// tqdm's rate: "40.12it/s", or "2.50s/it" below one per second.
std::string FormatRate(std::int64_t n, double elapsed, const std::string& unit) {
  if (elapsed <= 0 || n <= 0) return absl::StrCat("?", unit, "/s");
  const double rate = n / elapsed;
  if (rate < 1) return absl::StrFormat("%5.2fs/%s", 1 / rate, unit);
  return absl::StrFormat("%5.2f%s/s", rate, unit);
}

// tqdm's bar: full blocks, then one partial block of eighths, then spaces.
std::string FormatBar(double fraction, int width) {
  static constexpr const char* kEighths[] = {" ", "▏", "▎", "▍", "▌",
                                             "▋", "▊", "▉"};
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int eighths = static_cast<int>(fraction * width * 8);
  const int full = eighths / 8;
  std::string bar;
  for (int i = 0; i < full; ++i) bar += "█";
  if (full < width) {
    bar += kEighths[eighths % 8];
    bar.append(width - full - 1, ' ');
  }
  return bar;
}

// Columns a UTF-8 line takes: its code points (the bar's blocks are one
// column each, three bytes).
std::size_t DisplayWidth(const std::string& line) {
  std::size_t width = 0;
  for (unsigned char c : line) width += (c & 0xC0) != 0x80;
  return width;
}

int TerminalColumns(int fd) {
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

}  // namespace

std::string ProgressBar::FormatMeter(std::int64_t n,
                                     std::optional<std::int64_t> total,
                                     double elapsed_seconds,
                                     const std::string& desc,
                                     const std::string& unit, bool bar,
                                     int ncols) {
  const std::string prefix = desc.empty() ? "" : absl::StrCat(desc, ": ");
  const std::string elapsed = FormatInterval(elapsed_seconds);
  const std::string rate = FormatRate(n, elapsed_seconds, unit);
  if (!total.has_value() || *total <= 0) {
    return absl::StrCat(prefix, n, unit, " [", elapsed, ", ", rate, "]");
  }
  const double fraction = static_cast<double>(n) / static_cast<double>(*total);
  std::string remaining = "?";
  if (n > 0 && elapsed_seconds > 0) {
    remaining = FormatInterval(
        std::max<double>(0, (*total - n) * elapsed_seconds / n));
  }
  const std::string percent = absl::StrFormat("%3.0f%%", fraction * 100);
  const std::string right = absl::StrCat(n, "/", *total, " [", elapsed, "<",
                                         remaining, ", ", rate, "]");
  if (!bar) return absl::StrCat(prefix, percent, " ", right);
  const int width = std::max<int>(
      1, ncols - static_cast<int>(prefix.size() + percent.size() + 3 +
                                  right.size()));
  return absl::StrCat(prefix, percent, "|", FormatBar(fraction, width), "| ",
                      right);
}

ProgressBar::ProgressBar(ProgressOptions options)
    : options_(std::move(options)) {
  if (options_.disable) {
    closed_ = true;
    next_check_.store(INT64_MAX, std::memory_order_relaxed);
    return;
  }
  dynamic_ = options_.dynamic.value_or(isatty(options_.fd) == 1);
  ncols_ = options_.ncols.value_or(dynamic_ ? TerminalColumns(options_.fd)
                                            : 80);
  if (options_.total.has_value()) total_.store(*options_.total);
  MaybeDraw(0, /*force=*/true);
}

ProgressBar::~ProgressBar() { close(); }

void ProgressBar::set_total(std::int64_t total) {
  total_.store(total, std::memory_order_relaxed);
}

void ProgressBar::update(std::int64_t n) {
  const std::int64_t count =
      count_.fetch_add(n, std::memory_order_relaxed) + n;
  if (count < next_check_.load(std::memory_order_relaxed)) {
    const std::int64_t total = total_.load(std::memory_order_relaxed);
    if (total < 0 || count < total) return;
  }
  MaybeDraw(count, /*force=*/false);
}

void ProgressBar::close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start_).count();
  const std::int64_t total = total_.load(std::memory_order_relaxed);
  std::string line = FormatMeter(
      count_.load(std::memory_order_relaxed),
      total < 0 ? std::nullopt : std::optional<std::int64_t>(total), elapsed,
      options_.desc, options_.unit, dynamic_, ncols_);
  const std::size_t width = DisplayWidth(line);
  const std::size_t pad = width < last_width_ ? last_width_ - width : 0;
  Write(dynamic_ ? absl::StrCat("\r", line, std::string(pad, ' '), "\n")
                 : absl::StrCat(line, "\n"));
  closed_ = true;
}

void ProgressBar::MaybeDraw(std::int64_t count, bool force) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    if (!force) return;  // another thread is drawing right now
    lock.lock();
  }
  if (closed_) return;
  const Clock::time_point now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const absl::Duration interval =
      dynamic_ ? options_.mininterval : options_.line_interval;
  const auto interval_ns =
      std::chrono::nanoseconds(absl::ToInt64Nanoseconds(interval));
  // Look at the clock again after about half an interval's worth of
  // updates at the rate so far, but no later than when the count doubles or
  // grows by 1024: a burst must not hide a slow-down for long.
  const double per_second = elapsed > 0 ? count / elapsed : 0;
  const double ahead =
      std::min<double>(per_second * absl::ToDoubleSeconds(interval) / 2,
                       static_cast<double>(count));
  next_check_.store(
      count + static_cast<std::int64_t>(std::clamp(ahead, 1.0, 1024.0)),
      std::memory_order_relaxed);
  const std::int64_t total = total_.load(std::memory_order_relaxed);
  const bool finished = total >= 0 && count >= total;
  if (!force && now < next_draw_ && !(finished && dynamic_)) return;
  if (!force && finished && !dynamic_) return;  // close() writes that line
  next_draw_ = now + interval_ns;
  const std::string line = FormatMeter(
      count, total < 0 ? std::nullopt : std::optional<std::int64_t>(total),
      elapsed, options_.desc, options_.unit, dynamic_, ncols_);
  if (dynamic_) {
    const std::size_t width = DisplayWidth(line);
    const std::size_t pad = width < last_width_ ? last_width_ - width : 0;
    last_width_ = width;
    Write(absl::StrCat("\r", line, std::string(pad, ' ')));
  } else {
    Write(absl::StrCat(line, "\n"));
  }
}

void ProgressBar::Write(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(options_.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to write: progress is not worth failing for
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace cf
