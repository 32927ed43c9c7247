#include "executors/internal/result_handler.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "futures/internal/future_state.h"

namespace cf::internal {

ResultHandler::~ResultHandler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ResultHandler::Post(absl::AnyInvocable<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      jobs_.push_back(std::move(job));
      ++posted_;
      if (!thread_.joinable()) {
        thread_ = std::thread([this] { Main(); });
        id_ = thread_.get_id();
      }
      work_.notify_one();
      return;
    }
  }
  job();  // the pool is going away: run it here rather than lose it
}

void ResultHandler::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  if (thread_.joinable() && std::this_thread::get_id() == id_) return;
  const std::uint64_t target = posted_;
  drained_.wait(lock, [&] { return done_ >= target; });
}

bool ResultHandler::OnHandlerThread() const {
  std::lock_guard<std::mutex> lock(mu_);
  return thread_.joinable() && std::this_thread::get_id() == id_;
}

void ResultHandler::ReportCallbackError(const char* which,
                                        std::exception_ptr e) {
  const std::string message =
      absl::StrCat("cf::Pool: exception in ", which,
                   " (reported and ignored; the pool goes on): ",
                   DescribeException(e), "\n");
  std::fputs(message.c_str(), stderr);
}

void ResultHandler::Main() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left
    absl::AnyInvocable<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      job();
    } catch (...) {
      ReportCallbackError("a callback", std::current_exception());
    }
    job = nullptr;  // what it holds goes before the job counts as done
    lock.lock();
    ++done_;
    drained_.notify_all();
  }
}

}  // namespace cf::internal
