// Anonymous shared memory for cf's cross-process objects: each object lives
// in its own memfd (no name in /dev/shm, nothing on disk), mapped MAP_SHARED,
// and is freed by the kernel when the last process holding it lets go or
// dies, so a SIGKILL at any moment leaks nothing and no resource tracker is
// needed.
//
// The one thing to know: a handle reaches another process only as an
// argument. Serialized for a cf::Process child (inside an FdSendScope) it
// travels as an index into descriptors passed with SCM_RIGHTS; serialized
// anywhere else (a process-pool task) it names this process's descriptor,
// which the receiver opens through /proc/<pid>/fd while the sender still
// holds the object (the pool keeps a task's arguments until it is done).
//
//   internal::SharedRef ref(sizeof(Block), "cf-lock",
//                           [](char* p) { new (p) Block(); });
//   Block* b = ref.get<Block>();           // the segment is made here
//   archive(ref);                           // cereal, to another process
#ifndef CF_EXECUTORS_SHARED_MEMORY_SHARED_MEMORY_H_
#define CF_EXECUTORS_SHARED_MEMORY_SHARED_MEMORY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

namespace cf::internal {

// One memfd and this process's mapping of its first size() bytes.
class SharedMemory {
 public:
  // A new zero-filled segment of `size` bytes (rounded up to pages); `tag`
  // names it in /proc/<pid>/maps ("memfd:cf-queue"). Throws
  // std::system_error when memfd_create, ftruncate or mmap fails.
  static std::shared_ptr<SharedMemory> Create(std::size_t size,
                                              const char* tag);
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  char* data() const { return data_; }
  std::size_t size() const { return size_; }
  int fd() const { return fd_; }

  // How a segment crosses a process boundary (see the top).
  struct Wire {
    std::uint8_t how = 0;
    std::uint32_t index = 0;  // kByIndex
    std::int32_t pid = 0;     // kByProc
    std::int32_t fd = -1;     // kByProc
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::uint64_t size = 0;

    template <class Archive>
    void serialize(Archive& archive) {
      archive(how, index, pid, fd, dev, ino, size);
    }
  };
  Wire ToWire() const;
  // This process's mapping of the segment `wire` names: the one it already
  // has, or a new one. Throws std::runtime_error saying why it cannot.
  static std::shared_ptr<SharedMemory> FromWire(const Wire& wire);

 private:
  SharedMemory(int fd, char* data, std::size_t size, std::uint64_t dev,
               std::uint64_t ino);
  static std::shared_ptr<SharedMemory> Adopt(int fd, std::size_t size);

  int fd_;
  char* data_;
  std::size_t size_;
  std::uint64_t dev_;
  std::uint64_t ino_;
  pid_t pid_;  // the process this mapping belongs to (not a fork's copy)
};

// A handle to a block in a segment, made on first use: copies share it, and
// a default-constructed object that cereal then reads into never allocates.
class SharedRef {
 public:
  SharedRef() = default;
  // A block of `size` bytes in a new segment; `init` constructs it in place
  // when the segment is first needed.
  SharedRef(std::size_t size, const char* tag, std::function<void(char*)> init);
  // The block `offset` bytes into `other`'s segment (a Value's lock).
  SharedRef(const SharedRef& other, std::size_t offset);

  bool empty() const { return state_ == nullptr; }
  // The block; makes the segment if it is not made yet. Throws
  // std::logic_error on an empty ref.
  char* data() const;
  template <class T>
  T* get() const {
    return reinterpret_cast<T*>(data());
  }
  const std::shared_ptr<SharedMemory>& segment() const;
  // The same object (for ==).
  bool same(const SharedRef& other) const;

  template <class Archive>
  void save(Archive& archive) const {
    archive(segment()->ToWire(), static_cast<std::uint64_t>(offset_));
  }
  template <class Archive>
  void load(Archive& archive) {
    SharedMemory::Wire wire;
    std::uint64_t offset = 0;
    archive(wire, offset);
    Adopt(SharedMemory::FromWire(wire), offset);
  }

 private:
  struct State {
    std::once_flag once;
    std::size_t size = 0;
    const char* tag = "";
    std::function<void(char*)> init;
    std::shared_ptr<SharedMemory> segment;
  };
  void Adopt(std::shared_ptr<SharedMemory> segment, std::uint64_t offset);

  std::shared_ptr<State> state_;
  std::size_t offset_ = 0;
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_SHARED_MEMORY_SHARED_MEMORY_H_
