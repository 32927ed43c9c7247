// ThreadSanitizer suppressions for the benchmark binaries, which link peer
// pools and so cannot use //futures:tsan_suppressions (a program has one
// __tsan_default_suppressions; this one carries cf's line too).
//
// Debian's libtbb is not built with -fsanitize=thread: the task_group hands a
// task to a worker through atomics inside libtbb that TSan cannot see, so the
// worker reading the task's captures is reported as racing with the thread
// that constructed it. Only stacks passing through oneTBB's headers are
// silenced; cf's own code keeps its full TSan coverage.
extern "C" const char* __tsan_default_suppressions() {
  return "race:std::__exception_ptr::exception_ptr::_M_release\n"
         "race:oneapi/tbb/\n";
}
