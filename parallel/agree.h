// Agreeing on success across the ranks of a communicator before going on: for collective set-up
// steps (selecting a GPU, creating an NCCL communicator) where one rank that fails and returns
// would leave the others waiting forever in the next collective call.
//
// Promise: every rank of `comm` calls agree() with its own outcome and gets the same answer:
// success when every rank succeeded, else an Error on every rank. A rank that failed gets its
// own error back; the others get "rank R of N could not WHAT: <R's message>" for the
// lowest failing rank R, so each rank's log says why the group stopped. The ErrorCode is the
// lowest failing rank's on every rank.
// Collective and blocking over `comm` (the MPI calls have no deadline: use it where every rank
// is known to arrive, i.e. where every rank's path to it returns no error early). Called by the
// thread that makes the process's MPI calls.
#pragma once

#include <mpi.h>

#include <string_view>

#include "base/status.h"

namespace shardserve {

Status agree(MPI_Comm comm, const Status& mine, std::string_view what);

}  // namespace shardserve
