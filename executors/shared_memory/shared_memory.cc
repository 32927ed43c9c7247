#include "executors/shared_memory/shared_memory.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "executors/transport/clean_fork.h"
#include "executors/transport/fd_passing.h"

namespace cf::internal {
namespace {

enum How : std::uint8_t { kByIndex = 1, kByProc = 2 };

std::size_t PageRound(std::size_t size) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size == 0 ? page : (size + page - 1) / page * page;
}

[[noreturn]] void ThrowErrno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), "cf: " + what);
}

struct Cache;
Cache& GetCache();

// This process's mappings by file, so that a segment received twice is
// mapped once. Entries of another process (copied by fork) are ignored.
struct Cache {
  std::mutex mu;
  pid_t pid = 0;
  std::map<std::pair<std::uint64_t, std::uint64_t>,
           std::weak_ptr<SharedMemory>>
      by_file;
};

Cache* NewCache() {
  Cache* cache = new Cache();  // outlives static destructors
  // A fork must not copy the lock held by another thread. (Nothing takes a
  // descriptor-registry lock while holding this one, so the fork paths that
  // hold that one first cannot deadlock here.)
  pthread_atfork([] { GetCache().mu.lock(); },
                 [] { GetCache().mu.unlock(); },
                 [] { GetCache().mu.unlock(); });
  return cache;
}

Cache& GetCache() {
  static Cache* cache = NewCache();
  return *cache;
}

}  // namespace

SharedMemory::SharedMemory(int fd, char* data, std::size_t size,
                           std::uint64_t dev, std::uint64_t ino)
    : fd_(fd), data_(data), size_(size), dev_(dev), ino_(ino), pid_(getpid()) {}

SharedMemory::~SharedMemory() {
  if (pid_ != getpid()) return;  // a fork's copy: neither ours to unmap nor close
  munmap(data_, size_);
  CloseOwnedFd(fd_);
  Cache& cache = GetCache();
  std::lock_guard<std::mutex> lock(cache.mu);
  auto it = cache.by_file.find({dev_, ino_});
  if (it != cache.by_file.end() && it->second.expired()) cache.by_file.erase(it);
}

std::shared_ptr<SharedMemory> SharedMemory::Create(std::size_t size,
                                                   const char* tag) {
  size = PageRound(size);
  const int fd = memfd_create(tag, MFD_CLOEXEC);
  if (fd < 0) ThrowErrno("memfd_create");
  RegisterOwnedFd(fd);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    CloseOwnedFd(fd);
    errno = err;
    ThrowErrno("ftruncate of a shared memory segment");
  }
  return Adopt(fd, size);
}

std::shared_ptr<SharedMemory> SharedMemory::Adopt(int fd, std::size_t size) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    CloseOwnedFd(fd);
    errno = err;
    ThrowErrno("fstat of a shared memory segment");
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    CloseOwnedFd(fd);
    errno = err;
    ThrowErrno("mmap of a shared memory segment");
  }
  std::shared_ptr<SharedMemory> segment(
      new SharedMemory(fd, static_cast<char*>(p), size, st.st_dev, st.st_ino));
  Cache& cache = GetCache();
  std::lock_guard<std::mutex> lock(cache.mu);
  if (cache.pid != getpid()) {
    cache.by_file.clear();
    cache.pid = getpid();
  }
  cache.by_file[{segment->dev_, segment->ino_}] = segment;
  return segment;
}

SharedMemory::Wire SharedMemory::ToWire() const {
  Wire wire;
  wire.dev = dev_;
  wire.ino = ino_;
  wire.size = size_;
  if (FdSendScope* scope = FdSendScope::Current()) {
    wire.how = kByIndex;
    wire.index = scope->Add(fd_);
  } else {
    wire.how = kByProc;
    wire.pid = getpid();
    wire.fd = fd_;
  }
  return wire;
}

std::shared_ptr<SharedMemory> SharedMemory::FromWire(const Wire& wire) {
  {
    Cache& cache = GetCache();
    std::lock_guard<std::mutex> lock(cache.mu);
    if (cache.pid == getpid()) {
      auto it = cache.by_file.find({wire.dev, wire.ino});
      if (it != cache.by_file.end()) {
        std::shared_ptr<SharedMemory> found = it->second.lock();
        if (found != nullptr && found->pid_ == getpid() &&
            found->size_ >= wire.size) {
          return found;
        }
      }
    }
  }
  int fd = -1;
  if (wire.how == kByIndex) {
    FdReceiveScope* scope = FdReceiveScope::Current();
    if (scope == nullptr) {
      throw std::runtime_error(
          "cf: a shared object was sent to a cf::Process child but is being "
          "read outside of its start");
    }
    fd = scope->Take(wire.index);
  } else if (wire.how == kByProc) {
    const std::string path = absl::StrCat("/proc/", wire.pid, "/fd/", wire.fd);
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      throw std::runtime_error(absl::StrCat(
          "cf: cannot reach the shared memory of process ", wire.pid,
          " through ", path, ": ", strerror(errno),
          " (the sender must hold the object until the receiver has it)"));
    }
    RegisterOwnedFd(fd);
  } else {
    throw std::runtime_error("cf: a shared object arrived in an unknown form");
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != wire.dev || st.st_ino != wire.ino ||
      static_cast<std::uint64_t>(st.st_size) < wire.size) {
    CloseOwnedFd(fd);
    throw std::runtime_error(
        "cf: the descriptor a shared object names is not its memory any more "
        "(its sender closed it)");
  }
  return Adopt(fd, wire.size);
}

SharedRef::SharedRef(std::size_t size, const char* tag,
                     std::function<void(char*)> init)
    : state_(std::make_shared<State>()) {
  state_->size = size;
  state_->tag = tag;
  state_->init = std::move(init);
}

SharedRef::SharedRef(const SharedRef& other, std::size_t offset)
    : state_(other.state_), offset_(other.offset_ + offset) {}

const std::shared_ptr<SharedMemory>& SharedRef::segment() const {
  if (state_ == nullptr) {
    throw std::logic_error("cf: use of an empty shared object handle");
  }
  State& s = *state_;
  std::call_once(s.once, [&s] {
    if (s.segment != nullptr) return;  // read from another process
    s.segment = SharedMemory::Create(s.size, s.tag);
    if (s.init) s.init(s.segment->data());
    s.init = nullptr;
  });
  return s.segment;
}

char* SharedRef::data() const { return segment()->data() + offset_; }

bool SharedRef::same(const SharedRef& other) const {
  return state_ == other.state_ && offset_ == other.offset_;
}

void SharedRef::Adopt(std::shared_ptr<SharedMemory> segment,
                      std::uint64_t offset) {
  if (offset >= segment->size()) {
    throw std::runtime_error("cf: a shared object names a block outside its memory");
  }
  state_ = std::make_shared<State>();
  state_->segment = std::move(segment);
  offset_ = static_cast<std::size_t>(offset);
}

}  // namespace cf::internal
