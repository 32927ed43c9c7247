// Seed 001's "visit several sites at once" example, offline: each task
// "downloads" a page of a known size after a delay; results are handled in
// completion order, and a failure is reported without stopping the others.
#include <iostream>
#include "absl/container/flat_hash_map.h"
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cf.h"

std::string load_url(std::string url, int delay_ms) {
  absl::SleepFor(absl::Milliseconds(delay_ms));
  if (url.find("broken") != std::string::npos) {
    throw std::runtime_error("connection refused");
  }
  return std::string(url.size() * 100, 'x');
}

int main() {
  const std::vector<std::pair<std::string, int>> urls = {
      {"http://a.example/", 30}, {"http://b.example/", 10},
      {"http://broken.example/", 20}, {"http://c.example/", 0}};
  cf::ThreadPoolExecutor executor(4);
  absl::flat_hash_map<cf::Future<std::string>, std::string> future_to_url;
  std::vector<cf::Future<std::string>> futures;
  for (const auto& [url, delay] : urls) {
    cf::Future<std::string> f = executor.submit(load_url, url, delay);
    future_to_url[f] = url;
    futures.push_back(f);
  }
  int ok = 0, failed = 0;
  for (cf::Future<std::string> future : cf::as_completed(futures, absl::Seconds(60))) {
    const std::string& url = future_to_url[future];
    try {
      std::cout << url << " page is " << future.result().size() << " bytes\n";
      ++ok;
    } catch (const std::exception& e) {
      std::cout << url << " generated an exception: " << e.what() << "\n";
      ++failed;
    }
  }
  return ok == 3 && failed == 1 ? 0 : 1;
}
