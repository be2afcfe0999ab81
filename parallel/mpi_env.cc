#include "parallel/mpi_env.h"

#include <string>

#include "parallel/mpi_check.h"

namespace shardserve {

Result<MpiEnv*> MpiEnv::init(int* argc, char*** argv) {
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return Error{"MPI_Init_thread failed: is this process started by mpirun?"};
  auto* env = new MpiEnv();
  env->thread_level_ = provided;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &env->world_rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &env->world_size_));
  if (provided < MPI_THREAD_FUNNELED) {
    delete env;
    return Error{"the MPI library provides thread level " + std::to_string(provided) +
                 ", below MPI_THREAD_FUNNELED; use an MPI built with thread support"};
  }
  return env;
}

MpiEnv::~MpiEnv() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

MPI_Comm MpiEnv::split(int color) const {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, color, world_rank_, &comm));
  return comm;
}

}  // namespace shardserve
