// cf::Init: the one call a program makes at the top of main() so that
// ProcessPoolExecutor can start workers by re-executing it (the kSpawn and
// kForkServer start methods), as MPI_Init or Python's
// `if __name__ == "__main__":` guard.
//
// The one thing to know: in a process started as a worker, Init never
// returns; it serves the pool and exits. Everything main() does before the
// call therefore runs in every worker too, so make it the first line.
//
//   int main(int argc, char** argv) {
//     cf::Init(argc, argv);
//     cf::ProcessPoolExecutor pool({.start_method = cf::StartMethod::kSpawn});
//     ...
//   }
//
// The default start method, kFork, needs no Init.
#ifndef CF_EXECUTORS_INIT_H_
#define CF_EXECUTORS_INIT_H_

namespace cf {

// In a program started normally: records argv[0] and a fingerprint of this
// build (the build ids of the program and its libraries), and returns.
// In a worker or fork server started by a ProcessPoolExecutor: runs it and
// exits the process without returning.
void Init(int argc, char** argv);

// Whether Init has been called in this process.
bool Initialized();

}  // namespace cf

#endif  // CF_EXECUTORS_INIT_H_
