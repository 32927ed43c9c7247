// std::streambuf adapters so that cereal archives write straight into a
// std::string and read straight from bytes in memory, with no copy through
// std::stringstream.
#ifndef CF_EXECUTORS_TRANSPORT_BYTE_STREAM_H_
#define CF_EXECUTORS_TRANSPORT_BYTE_STREAM_H_

#include <ios>
#include <streambuf>
#include <string>
#include <string_view>

namespace cf::internal {

// Appends everything written to `*out`.
class StringSink : public std::streambuf {
 public:
  explicit StringSink(std::string* out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      out_->push_back(traits_type::to_char_type(c));
    }
    return traits_type::not_eof(c);
  }

 private:
  std::string* out_;
};

// Reads from `bytes`, which must outlive it; reading past the end fails the
// stream, which cereal turns into a cereal::Exception.
class ViewSource : public std::streambuf {
 public:
  explicit ViewSource(std::string_view bytes) {
    char* begin = const_cast<char*>(bytes.data());  // never written through
    setg(begin, begin, begin + bytes.size());
  }
  bool consumed_all() const { return gptr() == egptr(); }
};

}  // namespace cf::internal

#endif  // CF_EXECUTORS_TRANSPORT_BYTE_STREAM_H_
