// Run by mpi_two_hosts_test.sh across two "hosts" (network namespaces, each
// with its own address): `mpirun --host A:1,B:2 -n 3` puts rank 0 on A and
// the two workers on B, or a singleton on A spawns its workers on B
// (argv[1] == "spawn"). Each task reports the address of the network it
// runs in, so the test sees the calls cross. Exits non-zero on failure.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "cf.h"
#include "executors/mpi/mpi_executor.h"
#include "tests/mpi/mpi_tasks.h"

namespace {

// The first IPv4 address of this network namespace other than loopback.
std::string MyAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "?";
  std::string found = "none";
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr,
              text, sizeof(text));
    if (std::strncmp(text, "127.", 4) != 0) {
      found = text;
      break;
    }
  }
  freeifaddrs(list);
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  cf::Init(argc, argv);  // the workers on host B serve from here
  const bool spawn = argc > 1 && std::strcmp(argv[1], "spawn") == 0;
  const std::string here = MyAddress();
  const std::string there = argc > 2 ? argv[2] : "";
  int failures = 0;
  {
    cf::MPIPoolOptions options{.max_workers = 2};
    if (spawn) options.info = {{"add-host", there + ":2"}, {"host", there}};
    cf::MPIPoolExecutor pool(std::move(options));
    std::vector<cf::Future<std::string>> where;
    for (int i = 0; i < 8; ++i) where.push_back(pool.submit(MyAddress));
    std::set<std::string> addresses;
    for (auto& f : where) addresses.insert(f.result());
    for (const std::string& a : addresses) {
      std::printf("rank 0 on %s: a task ran on %s\n", here.c_str(), a.c_str());
      if (a == here || a != there) ++failures;
    }
    try {
      pool.submit(cf_test::ThrowOutOfRange, 1).result();
      ++failures;
    } catch (const std::out_of_range& e) {
      std::optional<cf::MPIOrigin> origin = cf::MPIOriginOf(e);
      if (!origin) {
        ++failures;
      } else {
        std::printf("exception from rank %d, host %s, pid %lld\n", origin->rank,
                    origin->host.c_str(), static_cast<long long>(origin->pid));
      }
    }
    int sum = 0;
    for (int r : pool.map(cf_test::Square, std::vector<int>{1, 2, 3, 4},
                          {.chunksize = 2})) {
      sum += r;
    }
    if (sum != 30) ++failures;
  }
  std::printf("%s\n", failures == 0 ? "two hosts: ok" : "two hosts: FAILED");
  return failures == 0 ? 0 : 1;
}
