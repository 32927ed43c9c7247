// How cf::Queue and cf::Connection turn an item into bytes and back: cereal's
// binary archive, except for numbers and enums, which are their own bytes
// (exactly what the archive would write) without the archive's cost.
//
// The one thing to know: EncodeItem's result lives in a per-thread buffer,
// valid until the thread's next EncodeItem.
//
//   std::string_view bytes = internal::EncodeItem(item);
//   T back = internal::DecodeItem<T>(std::string(bytes));
#ifndef CF_EXECUTORS_INTERNAL_ITEM_CODEC_H_
#define CF_EXECUTORS_INTERNAL_ITEM_CODEC_H_

#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "executors/transport/remote_call.h"

namespace cf::internal {

// Numbers and enums are their bytes, exactly as cereal's binary archive
// writes them; skipping the archive saves most of a small item's cost.
template <class T>
inline constexpr bool kRawItem = std::is_arithmetic_v<T> || std::is_enum_v<T>;

// Serializes `item` into a per-thread buffer (no allocation once warm).
template <class T>
std::string_view EncodeItem(const T& item) {
  static_assert(kIsSerializable<T>,
                "cf::Queue<T> / cf::Connection<T>: T must be serializable by "
                "cereal (standard types, or a type with a serialize())");
  if constexpr (kRawItem<T>) {
    return {reinterpret_cast<const char*>(&item), sizeof(T)};
  } else {
    thread_local std::string buffer;
    buffer.clear();
    StringSink sink(&buffer);
    std::ostream stream(&sink);
    OutputArchive archive(stream);
    archive(item);
    return buffer;
  }
}

template <class T>
T DecodeItem(const std::string& bytes) {
  if constexpr (kRawItem<T>) {
    if (bytes.size() != sizeof(T)) {
      throw std::runtime_error("cf: an item of the wrong size");
    }
    T item;
    std::memcpy(&item, bytes.data(), sizeof(T));
    return item;
  } else {
    return DecodeResult<T>(bytes);
  }
}

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_ITEM_CODEC_H_
