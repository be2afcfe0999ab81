// The MPI environment of one process: initialisation with a checked thread level, the
// world rank and size, and splitting the world into worker groups.
//
// Thread model: one thread per process makes every MPI call (MPI_THREAD_FUNNELED); init()
// fails if the library provides less. Construct one MpiEnv in main() before anything else
// touches MPI; its destructor finalizes.
#pragma once

#include <mpi.h>

#include "base/status.h"

namespace shardserve {

class MpiEnv {
 public:
  // Initialises MPI (argc/argv may be null). Error if MPI cannot give the thread level.
  static Result<MpiEnv*> init(int* argc, char*** argv);
  ~MpiEnv();
  MpiEnv(const MpiEnv&) = delete;
  MpiEnv& operator=(const MpiEnv&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  int thread_level() const { return thread_level_; }

  // Splits the world: ranks with the same `color` form one communicator, ordered by world
  // rank. Collective over the world.
  MPI_Comm split(int color) const;

 private:
  MpiEnv() = default;
  int world_rank_ = 0, world_size_ = 1, thread_level_ = 0;
};

}  // namespace shardserve
