// Lets a library that only some programs link (the MPI executors,
// executors/mpi) take part in cf::Init without cf's core depending on it.
//
// The one thing to know: hooks are added during static initialization and
// run by cf::Init, in the order they were added, after Init's own work (so a
// process re-executed as a ProcessPoolExecutor worker never reaches them). A
// hook may, like Init itself, never return: a spawned MPI worker serves and
// exits from there.
//
//   void MyInit(int argc, char** argv);
//   static const bool registered = cf::internal::AddInitHook(&MyInit);
#ifndef CF_EXECUTORS_INTERNAL_INIT_HOOK_H_
#define CF_EXECUTORS_INTERNAL_INIT_HOOK_H_

namespace cf::internal {

using InitHook = void (*)(int argc, char** argv);

// Adds `hook` for cf::Init to run; returns true, for a static initializer.
bool AddInitHook(InitHook hook);

}  // namespace cf::internal

#endif  // CF_EXECUTORS_INTERNAL_INIT_HOOK_H_
