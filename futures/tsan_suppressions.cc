// ThreadSanitizer suppressions for programs that use cf, compiled in (TSan
// asks the program for them). Link @cf//futures:tsan_suppressions into a
// TSan build of your program; cf's own tests and examples do.
//
// Debian's libstdc++ is not built with -fsanitize=thread, so TSan cannot see
// the atomic reference count that std::exception_ptr keeps inside it. When a
// future's exception is rethrown in one thread and the last reference to it
// dropped in another, TSan reports the exception's destructor as racing with
// the catch block that read it. The count does order them.
extern "C" const char* __tsan_default_suppressions() {
  return "race:std::__exception_ptr::exception_ptr::_M_release\n";
}
