// cf's ThreadSanitizer suppressions, as a string literal. Link
// //futures:tsan_suppressions to hand them to TSan; a program that writes its
// own __tsan_default_suppressions (TSan takes one per program) puts
// CF_TSAN_SUPPRESSIONS in front of its lines instead.
//
// Debian's libstdc++ is not built with -fsanitize=thread, so TSan cannot see
// the atomic reference count that std::exception_ptr keeps inside it. When a
// future's exception is rethrown in one thread and the last reference to it
// dropped in another, TSan reports the exception's destructor as racing with
// the catch block that read it. The count does order them.
#ifndef CF_FUTURES_TSAN_SUPPRESSIONS_H_
#define CF_FUTURES_TSAN_SUPPRESSIONS_H_

// A macro, so that programs can extend it by literal concatenation: TSan
// reads the suppressions before any constructor runs.
#define CF_TSAN_SUPPRESSIONS \
  "race:std::__exception_ptr::exception_ptr::_M_release\n"

#endif  // CF_FUTURES_TSAN_SUPPRESSIONS_H_
