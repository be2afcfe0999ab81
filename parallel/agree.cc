#include "parallel/agree.h"

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/mpi_check.h"

namespace shardserve {

Status agree(MPI_Comm comm, const Status& mine, std::string_view what) {
  int rank = 0, size = 1;
  MPI_CHECK(MPI_Comm_rank(comm, &rank));
  MPI_CHECK(MPI_Comm_size(comm, &size));
  const int failed = mine.ok() ? 0 : 1;
  std::vector<int> all(size);
  MPI_CHECK(MPI_Allgather(&failed, 1, MPI_INT, all.data(), 1, MPI_INT, comm));
  int first = -1;
  for (int r = 0; r < size && first < 0; ++r)
    if (all[r]) first = r;
  if (first < 0) return {};

  // Every rank knows the lowest failing rank: it tells the others why (code, then message).
  int code = static_cast<int>(mine.code());
  std::string message = mine.ok() ? std::string() : mine.message();
  if (message.size() > 65536) message.resize(65536);  // a log line, not a payload
  int64_t length = static_cast<int64_t>(message.size());
  MPI_CHECK(MPI_Bcast(&code, 1, MPI_INT, first, comm));
  MPI_CHECK(MPI_Bcast(&length, 1, MPI_INT64_T, first, comm));
  message.resize(static_cast<size_t>(length));
  if (length > 0)
    MPI_CHECK(MPI_Bcast(message.data(), static_cast<int>(length), MPI_CHAR, first, comm));
  if (!mine.ok()) return mine;
  return Error{"rank " + std::to_string(first) + " of " + std::to_string(size) + " could not " +
                   std::string(what) + ": " + message,
               static_cast<ErrorCode>(code)};
}

}  // namespace shardserve
