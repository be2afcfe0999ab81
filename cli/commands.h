// Registration of the CLI's subcommands. Each adds itself to the app and, when chosen and
// run, stores its process exit status in `exit_code`.
#pragma once

#include <CLI/App.hpp>

namespace shardserve::cli {

void add_generate_command(CLI::App& app, int& exit_code);
void add_coordinator_command(CLI::App& app, int& exit_code);
void add_up_command(CLI::App& app, int& exit_code);
// `argc`/`argv` are handed to MPI_Init.
void add_worker_command(CLI::App& app, int& exit_code, int argc, char** argv);

}  // namespace shardserve::cli
